"""Models sharing one runner's slots, and taking the next prediction of any of them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from replicast.broker.memory import MemoryBroker
from replicast.worker.pools import dequeue_any, pools
from tests.support.harness import model


async def nothing(context, inputs):
    return None


def test_models_on_one_runner_make_one_pool():
    dev = model("a/dev", nothing, concurrency=2)
    lora = replace(model("a/dev-lora", nothing), runner=dev.runner)
    other = model("a/other", nothing, concurrency=3)
    found = pools([dev, other, lora])
    assert [list(p.models) for p in found] == [["a/dev", "a/dev-lora"], ["a/other"]]
    assert [p.concurrency for p in found] == [2, 3]
    assert found[0].label == "a/dev+a/dev-lora"


async def test_the_first_queue_with_a_prediction_gives_it():
    broker = MemoryBroker()
    waiting = asyncio.create_task(dequeue_any(broker, ["a", "b", "c"]))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await broker.enqueue("b", "p1")
    assert await asyncio.wait_for(waiting, 5) == ("b", "p1")


async def test_what_another_queue_gave_meanwhile_goes_back():
    broker = MemoryBroker()
    await broker.enqueue("a", "p1")
    await broker.enqueue("b", "p2")
    taken = [await dequeue_any(broker, ["a", "b"]), await dequeue_any(broker, ["a", "b"])]
    assert sorted(taken) == [("a", "p1"), ("b", "p2")]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(dequeue_any(broker, ["a", "b"]), 0.05)


async def test_a_stopped_take_takes_nothing():
    broker = MemoryBroker()
    waiting = asyncio.create_task(dequeue_any(broker, ["a", "b"]))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await broker.enqueue("a", "p1")
    assert await asyncio.wait_for(broker.dequeue("a"), 5) == "p1"
