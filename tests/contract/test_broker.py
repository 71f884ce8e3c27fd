"""The broker contract: queues per model and channels per prediction."""

from __future__ import annotations

import asyncio

from replicast.predictions.events import Event, EventKind


async def test_queues_are_first_in_first_out_per_model(broker):
    for i in range(3):
        await broker.enqueue("a/x", f"x{i}")
    await broker.enqueue("b/y", "y0")
    assert [await broker.dequeue("a/x") for _ in range(3)] == ["x0", "x1", "x2"]
    assert await broker.dequeue("b/y") == "y0"


async def test_dequeue_waits_for_work(broker):
    waiting = asyncio.create_task(broker.dequeue("a/x"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await broker.enqueue("a/x", "late")
    assert await asyncio.wait_for(waiting, 2) == "late"


async def test_each_id_goes_to_one_consumer(broker):
    consumers = [asyncio.create_task(broker.dequeue("a/x")) for _ in range(3)]
    for i in range(3):
        await broker.enqueue("a/x", f"p{i}")
    got = await asyncio.wait_for(asyncio.gather(*consumers), 2)
    assert sorted(got) == ["p0", "p1", "p2"]


async def test_events_reach_every_subscriber_of_that_prediction_only(broker):
    async with broker.subscribe("p1") as first, broker.subscribe("p1") as second, \
            broker.subscribe("p2") as other:
        event = Event("p1", EventKind.STATUS)
        broker.publish(event)
        assert await first.next(1) == event
        assert await second.next(1) == event
        assert await other.next(0.05) is None


async def test_events_keep_their_order(broker):
    async with broker.subscribe("p") as subscription:
        events = [progress(i, "x") for i in range(50)]
        for event in events:
            broker.publish(event)
        assert [await subscription.next(1) for _ in events] == events


async def test_no_events_after_unsubscribing(broker):
    async with broker.subscribe("p") as subscription:
        pass
    broker.publish(Event("p", EventKind.STATUS))
    assert await subscription.next(0.05) is None


def progress(logs_offset: int, logs: str, items_offset: int = 0, items=()):
    from replicast.predictions.events import Progress

    return Event("p", EventKind.PROGRESS, data=Progress(logs_offset, logs, items_offset,
                                                         tuple(items)))


async def test_replay_gives_progress_not_yet_in_the_store(broker):
    first, second, third = progress(0, "a\n"), progress(2, "b\n", 0, ["x"]), progress(4, "c\n")
    for event in (first, second, third):
        broker.publish(event)
    async with broker.subscribe("p", replay=True) as subscription:
        assert [await subscription.next(1) for _ in range(3)] == [first, second, third]
    broker.publish(Event("p", EventKind.PERSISTED, data=(4, 1)))  # first two are written
    async with broker.subscribe("p", replay=True) as subscription:
        assert await subscription.next(1) == third
        assert await subscription.next(0.05) is None
    async with broker.subscribe("p") as subscription:  # no replay asked for
        assert await subscription.next(0.05) is None
    broker.publish(Event("p", EventKind.STATUS))  # finished: nothing left to replay
    async with broker.subscribe("p", replay=True) as subscription:
        assert await subscription.next(0.05) is None


async def test_a_listener_gets_events_instead_of_the_queue(broker):
    seen = []
    arrived = asyncio.Event()
    async with broker.subscribe("p") as subscription:
        subscription.listen(lambda event: (seen.append(event), arrived.set()))
        broker.publish(Event("p", EventKind.STATUS))
        await asyncio.wait_for(arrived.wait(), 2)
        subscription.listen(None)
        broker.publish(progress(0, "x"))
        assert [e.kind for e in seen] == [EventKind.STATUS]
        assert (await subscription.next(1)).kind is EventKind.PROGRESS


async def test_a_listener_first_gets_what_arrived_before_it_listened(broker):
    async with broker.subscribe("p") as subscription:
        broker.publish(Event("p", EventKind.STATUS))
        broker.publish(Event("p", EventKind.CANCEL, data="stop"))
        await asyncio.sleep(0.2)  # delivered (through Redis too, most likely) meanwhile
        seen = []
        subscription.listen(seen.append)
        broker.publish(Event("p", EventKind.NUDGE))
        for _ in range(100):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.02)
        subscription.listen(None)
        # Whether they arrived before it listened or after, none is lost, in order.
        assert [e.kind for e in seen] == [EventKind.STATUS, EventKind.CANCEL, EventKind.NUDGE]


async def test_progress_after_the_end_is_not_kept(broker):
    from replicast import ids, times
    from replicast.predictions.prediction import Prediction
    from replicast.predictions.status import Status

    finished = Prediction(id="p", account_id=1, model="a/b", version="v", input={},
                          status=Status.CANCELED, created_at=times.now(), base_url="",
                          stream_token=ids.url_token())
    broker.publish(Event("p", EventKind.STATUS, prediction=finished))
    broker.publish(progress(0, "late\n"))  # a model still winding down
    async with broker.subscribe("p", replay=True) as subscription:
        assert await subscription.next(0.05) is None


async def test_restore_puts_back_only_what_the_queue_lost(broker):
    await broker.enqueue("a/x", "kept")
    # Lost by a restart of a shared broker, or taken by a worker whose start of it failed.
    assert await broker.restore("a/x", ["kept", "lost"]) == 1
    got = {await asyncio.wait_for(broker.dequeue("a/x"), 2) for _ in range(2)}
    assert got == {"kept", "lost"}
    # Taken ids are no longer queued, so they count as lost if the store still waits on them.
    assert await broker.restore("a/x", ["kept"]) == 1
    assert await asyncio.wait_for(broker.dequeue("a/x"), 2) == "kept"
