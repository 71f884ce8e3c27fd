"""A model whose runner pauses (an unhealthy predictor): its predictions stay queued."""

from __future__ import annotations

import asyncio

import pytest

from replicast.broker.memory import MemoryBroker
from replicast.models.base import Model
from replicast.predictions.status import Status
from replicast.worker.pools import Pool, dequeue_unless_paused
from tests.support.harness import FunctionRunner, Harness, model


class PausingRunner(FunctionRunner):
    """Ready until ``pause()``, as an unhealthy predictor's runner is; ``resume()`` again."""

    pauses = True

    def __init__(self) -> None:
        super().__init__(self.echo, concurrency=1)
        self.ready = asyncio.Event()
        self.ready.set()
        self.is_paused = False
        self.watchers: set = set()

    @staticmethod
    async def echo(context, inputs):
        return f"got {inputs['value']}"

    def pause(self) -> None:
        self.ready.clear()
        self.is_paused = True
        for watcher in tuple(self.watchers):
            watcher()

    def resume(self) -> None:
        self.is_paused = False
        self.ready.set()

    async def wait_ready(self) -> None:
        await self.ready.wait()

    @property
    def paused(self) -> bool:
        return self.is_paused

    def on_pause(self, callback):
        self.watchers.add(callback)
        return lambda: self.watchers.discard(callback)


def pausing(name: str) -> tuple[Model, PausingRunner]:
    runner = PausingRunner()
    found = model(name, runner.function)
    return Model(found.owner, found.name, found.description, found.openapi_schema, runner,
                 found.version_created_at), runner


async def test_a_take_ends_with_nothing_taken_when_the_model_pauses():
    broker = MemoryBroker()
    paused_model, runner = pausing("a/x")
    pool = Pool({"a/x": paused_model})
    take = asyncio.ensure_future(dequeue_unless_paused(broker, pool))
    await asyncio.sleep(0.01)
    runner.pause()
    assert await asyncio.wait_for(take, 5) is None
    await broker.enqueue("a/x", "p1")
    assert await asyncio.wait_for(broker.dequeue("a/x"), 5) == "p1"  # still there
    runner.resume()
    await broker.enqueue("a/x", "p2")
    assert await asyncio.wait_for(dequeue_unless_paused(broker, pool), 5) == ("a/x", "p2")


async def test_a_model_paused_already_is_not_taken_from():
    broker = MemoryBroker()
    paused_model, runner = pausing("a/x")
    runner.pause()
    await broker.enqueue("a/x", "p1")
    assert await dequeue_unless_paused(broker, Pool({"a/x": paused_model})) is None
    assert await asyncio.wait_for(broker.dequeue("a/x"), 5) == "p1"


async def test_a_pause_just_after_a_prediction_was_handed_over_leaves_it_queued():
    broker = MemoryBroker()
    paused_model, runner = pausing("a/x")
    take = asyncio.ensure_future(dequeue_unless_paused(broker, Pool({"a/x": paused_model})))
    await asyncio.sleep(0.01)
    await broker.enqueue("a/x", "p1")  # hands it to the waiting take, which has not run yet
    runner.pause()
    assert await asyncio.wait_for(take, 5) is None
    assert await asyncio.wait_for(broker.dequeue("a/x"), 5) == "p1"
    assert not runner.watchers  # no watch outlives the take


async def test_a_stop_during_a_watched_take_is_not_taken_for_a_pause():
    broker = MemoryBroker()
    paused_model, runner = pausing("a/x")
    pool = Pool({"a/x": paused_model})
    take = asyncio.ensure_future(dequeue_unless_paused(broker, pool))
    await asyncio.sleep(0.01)
    take.cancel()  # the worker stops
    with pytest.raises(asyncio.CancelledError):
        await take
    both = asyncio.ensure_future(dequeue_unless_paused(broker, pool))
    await asyncio.sleep(0.01)
    both.cancel()  # a stop and a pause at once: the stop wins
    runner.pause()
    with pytest.raises(asyncio.CancelledError):
        await both
    assert not runner.watchers


async def test_a_runner_that_never_pauses_gives_the_next_prediction():
    broker = MemoryBroker()
    pool = Pool({"a/y": model("a/y", PausingRunner.echo)})  # the default: never paused
    await broker.enqueue("a/y", "p1")
    assert await asyncio.wait_for(dequeue_unless_paused(broker, pool), 5) == ("a/y", "p1")


async def test_a_prediction_of_a_paused_model_stays_starting_until_it_resumes(tmp_path):
    paused_model, runner = pausing("t/paused")
    harness = await Harness(tmp_path, [paused_model], predict_timeout=30).open()
    try:
        first = await harness.create("t/paused", wait=5, input={"value": "a"})
        assert first.status is Status.SUCCEEDED  # consumers now wait for the next one
        runner.pause()
        waiting = await harness.create("t/paused", input={"value": "b"})
        with pytest.raises(AssertionError, match="gave up waiting"):
            await harness.until(waiting.id, lambda p: p.status is not Status.STARTING,
                                timeout=0.5)
        runner.resume()
        done = await harness.until(waiting.id, lambda p: p.status.terminal)
        assert done.status is Status.SUCCEEDED and done.output == "got b"
    finally:
        await harness.close()
