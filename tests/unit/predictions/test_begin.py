"""A start committed by ``Lifecycle.begin`` is announced once the loop's step is over,
and always before anything else said about the prediction."""

from __future__ import annotations

import asyncio

import pytest

from replicast.broker.memory import MemoryBroker
from replicast.predictions.events import Progress
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.status import Status
from replicast.store.sqlite.store import SQLiteStore
from tests.unit.store.test_sqlite_access import prediction as new_prediction


class Heard(LifecycleListener):
    def __init__(self) -> None:
        self.statuses: list[Status] = []

    def status_changed(self, prediction):
        self.statuses.append(prediction.status)


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.accounts.ensure_account("a")
    yield store
    await store.close()


async def events_of(subscription) -> list[tuple[str, str | None]]:
    seen = []
    while (event := await subscription.next(0.05)) is not None:
        seen.append((event.kind.value,
                     event.prediction.status.value if event.prediction is not None else None))
    return seen


async def test_a_start_is_announced_after_the_step_that_committed_it(store):
    broker, heard = MemoryBroker(), Heard()
    lifecycle = Lifecycle(store.predictions, broker, listeners=[heard])
    p = new_prediction(1)
    async with broker.subscribe(p.id) as subscription:
        started = await lifecycle.begin(p, "w", 30, store.predictions.insert)
        # Committed, not yet announced: whatever the step goes on to do comes first.
        assert (await store.predictions.get(p.id)).status is Status.PROCESSING
        assert heard.statuses == []
        await asyncio.sleep(0)
        assert heard.statuses == [Status.PROCESSING]
        assert await events_of(subscription) == [("status", "processing")]
    assert started.status is Status.PROCESSING


async def test_whatever_is_said_of_a_prediction_before_its_start_is_announced_follows_it(
        store):
    broker, heard = MemoryBroker(), Heard()
    lifecycle = Lifecycle(store.predictions, broker, listeners=[heard])
    first, second = new_prediction(1), new_prediction(1)
    async with broker.subscribe(first.id) as one, broker.subscribe(second.id) as two:
        started = await lifecycle.begin(first, "w", 30, store.predictions.insert)
        lifecycle.announce(first.id, Progress(0, "a line\n", 0, ("item",)))
        other = await lifecycle.begin(second, "w", 30, store.predictions.insert)
        await lifecycle.succeed(other, "done")  # its end, in the same step as its start
        assert heard.statuses == [Status.PROCESSING, Status.PROCESSING, Status.SUCCEEDED]
        await asyncio.sleep(0)  # the calls scheduled by begin find nothing left to say
        assert await events_of(one) == [("status", "processing"), ("progress", None)]
        assert await events_of(two) == [("status", "processing"), ("status", "succeeded")]
    assert heard.statuses == [Status.PROCESSING, Status.PROCESSING, Status.SUCCEEDED]
    assert started.status is Status.PROCESSING


class Failing(LifecycleListener):
    def status_changed(self, prediction):
        if prediction.status is Status.PROCESSING:
            raise RuntimeError("a listener's bug")


async def test_a_listener_failing_at_the_start_stops_neither_the_run_nor_its_end(
        store, caplog):
    heard = Heard()
    lifecycle = Lifecycle(store.predictions, MemoryBroker(), listeners=[Failing(), heard])
    started = await lifecycle.begin(new_prediction(1), "w", 30, store.predictions.insert)
    # Its end comes first: the start is announced (and fails) on the way.
    done = await lifecycle.succeed(started, "ok")
    assert done is not None and done.status is Status.SUCCEEDED
    assert (await store.predictions.get(started.id)).status is Status.SUCCEEDED
    await asyncio.sleep(0)
    assert heard.statuses == [Status.SUCCEEDED]  # after the failing one, none heard the start
    assert "announcing the start of prediction" in caplog.text
