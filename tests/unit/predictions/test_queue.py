"""A waiting prediction's place in its model's queue, and its estimated start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from replicast.predictions.queue import QueuePlace, describe, describe_json, ordinal, place
from replicast.predictions.status import Status
from tests.support.harness import Harness, model

NOW = datetime(2026, 1, 1, tzinfo=UTC)
gates: dict[str, asyncio.Semaphore] = {}


async def one(context, inputs):
    await gates["one"].acquire()
    return "done"


async def other(context, inputs):
    await gates["other"].acquire()
    return "done"


@pytest.fixture
async def harness(tmp_path):
    gates.update(one=asyncio.Semaphore(0), other=asyncio.Semaphore(0))
    h = await Harness(tmp_path, [model("t/one", one, concurrency=1),
                                 model("t/other", other, concurrency=1)]).open()
    yield h
    for gate in gates.values():
        for _ in range(4):
            gate.release()
    await h.close()


def test_the_next_to_start_is_first_and_waits_for_its_share_of_runs():
    assert place(0, [], 1, NOW) == QueuePlace(1, None)
    assert place(2, [10.0, 20.0], 1, NOW) == QueuePlace(3, NOW + timedelta(seconds=45))
    assert place(3, [8.0], 4, NOW) == QueuePlace(4, NOW + timedelta(seconds=8))


async def test_the_position_falls_as_those_ahead_start(harness):
    first = await harness.create("t/one")
    first = await harness.until(first.id, lambda p: p.status is Status.PROCESSING)
    second, third = await harness.create("t/one"), await harness.create("t/one")
    elsewhere = await harness.create("t/other")  # another model's queue counts not
    await harness.until(elsewhere.id, lambda p: p.status is Status.PROCESSING)

    assert await harness.service.queue_place(first) is None  # running: no place
    assert await harness.service.queue_place(second) == QueuePlace(1, None)
    assert (await harness.service.queue_place(third)).position == 2

    gates["one"].release()
    await harness.until(first.id, lambda p: p.terminal)
    await harness.until(second.id, lambda p: p.status is Status.PROCESSING)
    third = await harness.store.predictions.get(third.id)
    now = datetime.now(UTC)
    latest = await harness.service.queue_place(third)
    assert latest.position == 1
    # One run to learn from now: it starts about one run's length from now.
    assert latest.estimated_start is not None
    assert now <= latest.estimated_start <= now + timedelta(seconds=5)


def test_a_place_in_words():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd", "111th"]
    assert describe(1, None) == "Next in the queue"
    assert describe(3, 40.4) == "3rd in the queue, starting in about 40 s"
    assert describe(2, 0.2) == "2nd in the queue, starting soon"  # overdue too
    assert describe(12, 600) == "12th in the queue, starting in about 10 min"


def test_the_api_queue_field_in_words():
    later = "2026-01-01T00:01:30.000000Z"
    assert describe_json({"position": 4, "estimated_start": later}, NOW) == \
        "4th in the queue, starting in about 2 min"
    assert describe_json({"position": 2, "estimated_start": None}, NOW) == "2nd in the queue"
    assert describe_json({"position": 2, "estimated_start": "soon"}, NOW) == "2nd in the queue"
    assert describe_json(None, NOW) is None
    assert describe_json({"position": "first"}, NOW) is None
