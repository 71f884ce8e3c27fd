"""A synchronous create offered to an idle consumer: committed already started, in one
transaction; declined back to its create whenever the consumer cannot take it."""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Coroutine, Generator
from datetime import timedelta
from typing import Any

import pytest

from replicast import ids, times
from replicast.broker.memory import MemoryBroker
from replicast.broker.offer import Offer
from replicast.errors import StoreUnavailable, Throttled
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.webhooks.delivery import WebhookEvent
from replicast.webhooks.emitter import WebhookEmitter
from replicast.worker.pools import Pool, dequeue_any, dequeue_unless_paused
from tests.support.harness import Harness, model
from tests.unit.worker.test_paused_models import pausing


def new_prediction() -> Prediction:
    return Prediction(id=ids.prediction_id(), account_id=1, model="a/x", version="v",
                      input={}, status=Status.STARTING, created_at=times.now(),
                      base_url="http://h", stream_token=ids.url_token())


async def insert_nothing(prediction, deliveries) -> None:
    pass


async def test_an_offer_goes_only_to_a_consumer_that_waits():
    broker = MemoryBroker()
    lonely = Offer(new_prediction(), insert_nothing)
    assert not broker.consumer_waits("a/x")
    assert not broker.offer("a/x", lonely)  # nobody waits: the create queues it itself
    take = asyncio.ensure_future(broker.dequeue("a/x"))
    await asyncio.sleep(0.01)
    assert broker.consumer_waits("a/x") and not broker.consumer_waits("a/y")
    offer = Offer(new_prediction(), insert_nothing)
    assert broker.offer("a/x", offer)
    assert await asyncio.wait_for(take, 5) is offer
    assert not broker.offer("a/x", Offer(new_prediction(), insert_nothing))  # taken: busy
    await broker.enqueue("a/x", "p1")  # the queue itself is as it was
    assert await asyncio.wait_for(broker.dequeue("a/x"), 5) == "p1"


async def test_a_consumer_stopped_before_it_woke_declines_the_offer_and_passes_on_the_id():
    broker = MemoryBroker()
    first, second = (asyncio.ensure_future(broker.dequeue("a/x")) for _ in range(2))
    await asyncio.sleep(0.01)
    offer = Offer(new_prediction(), insert_nothing)
    assert broker.offer("a/x", offer)  # to the first
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(offer.outcome, 5) is None  # declined: its create goes on
    await broker.enqueue("a/x", "p1")  # to the second
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await asyncio.wait_for(broker.dequeue("a/x"), 5) == "p1"  # still first in line


async def test_an_offer_taken_beside_another_queue_s_prediction_is_declined():
    broker = MemoryBroker()
    take = asyncio.ensure_future(dequeue_any(broker, ["a/x", "a/y"]))
    await asyncio.sleep(0.01)
    await broker.enqueue("a/x", "p1")
    offer = Offer(new_prediction(), insert_nothing)
    assert broker.offer("a/y", offer)  # both takes are done before the consumer wakes
    assert await asyncio.wait_for(take, 5) == ("a/x", "p1")
    assert await asyncio.wait_for(offer.outcome, 5) is None


async def echo(context, inputs):
    return f"got {inputs['value']}"


async def test_a_waiting_create_is_committed_started_with_its_start_webhook(tmp_path):
    harness = Harness(tmp_path, [model("t/echo", echo)])
    harness.lifecycle.listeners = (WebhookEmitter(
        harness.store.outbox, retry_window=timedelta(hours=1), on_created=lambda: None),)
    await harness.open()
    updates = []
    update = harness.store.predictions.update

    async def recorded(prediction_id, expected, change, **kwargs):
        updates.append(change.status)
        return await update(prediction_id, expected, change, **kwargs)

    harness.store.predictions.update = recorded
    try:
        await harness.create("t/echo", wait=5)  # the consumers have started meanwhile
        updates.clear()
        done = await harness.create("t/echo", wait=5, input={"value": "a"},
                                    webhook="https://example.com/hook")
        assert done.status is Status.SUCCEEDED and done.output == "got a"
        assert done.attempt == 1 and done.started_at >= done.created_at
        assert updates == [Status.SUCCEEDED]  # no separate start
        deliveries = await harness.store.outbox.of_prediction(done.id)
        assert [d.event for d, _ in deliveries] == [WebhookEvent.START, WebhookEvent.COMPLETED]
    finally:
        await harness.close()


@types.coroutine
def counting_sleeps(coroutine: Coroutine[Any, Any, Any], sleeps: list[int]
                    ) -> Generator[Any, Any, Any]:
    """``await coroutine``, counting in ``sleeps`` the times it gives the loop its turn."""
    sent: Any = None
    error: BaseException | None = None
    while True:
        try:
            waited = coroutine.throw(error) if error is not None else coroutine.send(sent)
        except StopIteration as finished:
            return finished.value
        sleeps.append(1)
        try:
            sent, error = (yield waited), None
        except BaseException as thrown:  # handed on to the coroutine
            sent, error = None, thrown


async def test_an_offered_create_sleeps_once_from_its_offer_to_its_end(tmp_path):
    # The consumer's commit of the started prediction wakes nobody; its end wakes the create.
    harness = await Harness(tmp_path, [model("t/echo", echo)]).open()
    taken = offers_taken(harness)
    try:
        await harness.create("t/echo", wait=5)  # the consumers have started meanwhile
        taken.clear()
        sleeps: list[int] = []
        done = await counting_sleeps(harness.create("t/echo", wait=5, input={"value": "a"}),
                                     sleeps)
        assert len(taken) == 1 and done.status is Status.SUCCEEDED
        assert len(sleeps) == 1
    finally:
        await harness.close()


async def test_an_offered_prediction_starts_to_run_in_the_turn_of_the_loop_that_commits_it(
        tmp_path):
    # Its commit, and its run up to the first wait, start at once (replicast.eager).
    loop = asyncio.get_running_loop()
    turns = {"count": 0}
    seen: list[int] = []

    def count() -> None:
        turns["count"] += 1
        if turns["count"] < 100:
            loop.call_soon(count)

    async def counted_echo(context, inputs):
        seen.append(turns["count"])
        return f"got {inputs['value']}"

    harness = await Harness(tmp_path, [model("t/echo", counted_echo)]).open()
    taken = offers_taken(harness)
    insert = harness.store.predictions.insert

    async def insert_then_count(prediction, deliveries=()):
        await insert(prediction, deliveries)
        turns["count"] = 0
        loop.call_soon(count)

    harness.store.predictions.insert = insert_then_count
    harness.service.max_unfinished = 0  # (the plain insert, which is counted here)
    try:
        await harness.create("t/echo", wait=5)  # the consumers have started meanwhile
        taken.clear()
        seen.clear()
        done = await harness.create("t/echo", wait=5, input={"value": "a"})
        assert len(taken) == 1 and done.status is Status.SUCCEEDED and done.attempt == 1
        assert seen == [0]  # the model ran before the loop turned once after the commit
    finally:
        await harness.close()


async def test_an_offered_input_is_checked_once_and_its_unknown_names_still_logged(tmp_path):
    harness = await Harness(tmp_path, [model("t/echo", echo)]).open()
    taken = offers_taken(harness)
    validator = harness.registry.get("t/echo").validator
    checks = []
    validate = validator.validate

    def counted(value):
        checks.append(dict(value))
        return validate(value)

    validator.validate = counted
    try:
        await harness.create("t/echo", wait=5)  # the consumers have started meanwhile
        checks.clear()
        taken.clear()
        done = await harness.create("t/echo", wait=5, input={"value": "a", "extra": 1})
        assert len(taken) == 1  # offered, and taken
        assert done.status is Status.SUCCEEDED and done.output == "got a"
        assert checks == [{"value": "a", "extra": 1}]  # at the create; not again to run it
        assert "Ignoring input 'extra': t/echo has no such input" in done.logs
    finally:
        await harness.close()


async def test_a_create_over_the_limit_is_refused_and_the_consumer_goes_on(tmp_path):
    harness = await Harness(tmp_path, [model("t/echo", echo, concurrency=2)]).open()
    taken = offers_taken(harness)
    try:
        harness.service.max_unfinished = 1
        slow = asyncio.Event()

        async def held(context, inputs):
            await slow.wait()
            return "held"

        harness.registry.get("t/echo").runner.function = held
        first = await harness.create("t/echo", input={"value": "a"})  # queued, then runs
        await harness.until(first.id, lambda p: p.status is Status.PROCESSING)
        with pytest.raises(Throttled):
            await harness.create("t/echo", wait=5, input={"value": "b"})
        assert len(taken) == 1  # refused by the consumer that took the offer
        slow.set()
        await harness.until(first.id, lambda p: p.status.terminal)
        harness.registry.get("t/echo").runner.function = echo
        done = await harness.create("t/echo", wait=5, input={"value": "c"})
        assert done.status is Status.SUCCEEDED and done.output == "got c"
        assert len(taken) == 2
    finally:
        await harness.close()


async def test_a_create_finding_every_consumer_busy_is_queued_as_before(tmp_path):
    started = asyncio.Event()
    release = asyncio.Event()

    async def held(context, inputs):
        started.set()
        await release.wait()
        return inputs["value"]

    harness = await Harness(tmp_path, [model("t/held", held, concurrency=1)]).open()
    taken = offers_taken(harness)
    try:
        first = await harness.create("t/held", input={"value": "a"})
        await asyncio.wait_for(started.wait(), 5)
        # Its one slot is taken; the consumers beside it (slow fetches) wait for a slot,
        # not on the queue: nobody takes an offer, and the create queues its prediction.
        second = asyncio.ensure_future(harness.create("t/held", wait=5, input={"value": "b"}))
        await asyncio.sleep(0.05)
        waiting = await harness.store.runs.list_unfinished()
        assert [p.status for p in waiting] == [Status.PROCESSING, Status.STARTING]
        assert waiting[0].id == first.id and not taken
        release.set()
        done = await asyncio.wait_for(second, 5)
        assert done.status is Status.SUCCEEDED and done.output == "b"
    finally:
        await harness.close()


@pytest.mark.parametrize("commit_fails", [False, True])
async def test_a_worker_stopped_while_it_commits_an_offer_tells_its_create_how_it_went(
        tmp_path, commit_fails):
    harness = await Harness(tmp_path, [model("t/echo", echo)]).open()
    committing, go_on = asyncio.Event(), asyncio.Event()
    insert = harness.service._insert

    async def slow(prediction, deliveries):
        committing.set()
        await go_on.wait()
        if commit_fails:
            raise StoreUnavailable("the database is gone")
        await insert(prediction, deliveries)

    try:
        await harness.create("t/echo", wait=5)  # the consumers have started meanwhile
        harness.service._insert = slow
        create = asyncio.ensure_future(harness.create("t/echo", wait=0.2))
        await asyncio.wait_for(committing.wait(), 5)
        stopping = asyncio.ensure_future(harness.worker.stop(0))
        await asyncio.sleep(0.05)
        assert not create.done()  # the commit goes on, whoever stops
        go_on.set()
        await stopping
        if commit_fails:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(create, 5)
        else:
            answered = await asyncio.wait_for(create, 5)  # committed: answered as such
            stored = await harness.store.predictions.get(answered.id)
            assert stored.status is Status.PROCESSING and stored.attempt == 1
    finally:
        await harness.close()


async def test_an_offer_declined_by_its_consumer_is_committed_once_by_its_create(tmp_path):
    harness = await Harness(tmp_path, [model("t/echo", echo)]).open()
    try:
        await harness.create("t/echo", wait=5)

        def declined(name, offer):  # a consumer stopped or paused before it woke
            offer.decline()
            return True

        harness.broker.offer = declined
        done = await harness.create("t/echo", wait=5, input={"value": "d"})
        assert done.status is Status.SUCCEEDED and done.output == "got d"
        # The warm-up's and this one: committed once, not by the consumer and the create.
        assert await harness.store.predictions.status_counts() == {
            ("t/echo", "succeeded"): 2}
    finally:
        await harness.close()


async def offered_to(broker: MemoryBroker, ticks: int) -> Offer:
    """An offer handed to the take waiting for ``a/x``, then ``ticks`` turns of the loop."""
    await asyncio.sleep(0.01)
    offer = Offer(new_prediction(), insert_nothing)
    assert broker.offer("a/x", offer)
    for _ in range(ticks):
        await asyncio.sleep(0)
    return offer


@pytest.mark.parametrize("ticks", range(5))
async def test_a_stop_while_other_queues_are_put_back_gives_back_what_was_taken(ticks):
    broker = MemoryBroker()
    take = asyncio.ensure_future(dequeue_any(broker, ["a/x", "a/y"]))
    offer = await offered_to(broker, ticks)
    take.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await take
    if take.cancelled():
        assert await asyncio.wait_for(asyncio.shield(offer.outcome), 1) is None  # declined
    else:  # it came back before the stop: its consumer has it, and nobody else
        assert take.result() == ("a/x", offer) and not offer.outcome.done()
    again = asyncio.ensure_future(dequeue_any(broker, ["a/x", "a/y"]))
    await asyncio.sleep(0.01)
    await broker.enqueue("a/x", "p1")
    for _ in range(ticks):
        await asyncio.sleep(0)
    again.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await again
    if again.cancelled():
        assert await asyncio.wait_for(broker.dequeue("a/x"), 1) == "p1"  # still queued
    else:
        assert again.result() == ("a/x", "p1")


@pytest.mark.parametrize("ticks", range(5))
async def test_a_pause_in_a_pool_of_two_models_declines_the_offer_taken(ticks):
    broker = MemoryBroker()
    (first, _), (second, pausing_runner) = pausing("a/x"), pausing("a/y")
    pool = Pool({"a/x": first, "a/y": second})
    take = asyncio.ensure_future(dequeue_unless_paused(broker, pool))
    offer = await offered_to(broker, ticks)
    pausing_runner.pause()
    assert await asyncio.wait_for(take, 5) is None and take.cancelling() == 0
    assert await asyncio.wait_for(asyncio.shield(offer.outcome), 1) is None


def offers_taken(harness: Harness) -> list[Offer]:
    """The offers a consumer took, recorded as the broker hands them."""
    taken: list[Offer] = []
    offer = harness.broker.offer

    def recorded(name, made):
        handed = offer(name, made)
        if handed:
            taken.append(made)
        return handed

    harness.broker.offer = recorded
    return taken
