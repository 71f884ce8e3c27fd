"""The Redis broker between processes (two brokers on one Redis) and across its loss."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from replicast.broker.redis import GROUP, RedisBroker, queue_key
from replicast.predictions.events import Event, EventKind, Progress, preview_data
from tests.support import services


@pytest.fixture
async def brokers():
    await services.empty_redis()
    pair = [RedisBroker(services.redis_url()), RedisBroker(services.redis_url())]
    for broker in pair:
        await broker.open()
    yield pair
    for broker in pair:
        await broker.close()


async def test_events_cross_between_brokers(brokers):
    api, worker = brokers
    async with api.subscribe("p") as subscription:
        event = Event("p", EventKind.PROGRESS, data=Progress(0, "hello\n"))
        worker.publish(event)
        assert await subscription.next(2) == event


async def test_a_preview_crosses_between_brokers(brokers):
    api, worker = brokers
    async with api.subscribe("p") as subscription:
        event = Event("p", EventKind.PREVIEW, data=preview_data(1, b"\x89PNG", "png"))
        worker.publish(event)
        assert await subscription.next(2) == event


async def test_a_late_subscriber_on_the_same_stream_misses_nothing(brokers):
    api, worker = brokers
    async with api.subscribe("p") as early:
        worker.publish(Event("p", EventKind.PROGRESS, data=Progress(0, "a")))
        assert (await early.next(2)).data.logs == "a"
        async with api.subscribe("p") as late:
            worker.publish(Event("p", EventKind.PROGRESS, data=Progress(1, "b")))
            assert (await late.next(2)).data.logs == "b"
            assert (await early.next(2)).data.logs == "b"
            assert await late.next(0.1) is None


async def test_each_queued_id_reaches_one_of_several_workers(brokers):
    api, worker = brokers
    consumers = [asyncio.create_task(b.dequeue("m/x")) for b in (api, worker) for _ in range(2)]
    for i in range(4):
        await api.enqueue("m/x", f"p{i}")
    got = await asyncio.wait_for(asyncio.gather(*consumers), 5)
    assert sorted(got) == ["p0", "p1", "p2", "p3"]


async def test_losing_redis_loses_nothing_the_store_knows(brokers):
    api, worker = brokers
    await api.enqueue("m/x", "first")
    assert await asyncio.wait_for(worker.dequeue("m/x"), 5) == "first"  # group in place
    await api.enqueue("m/x", "queued-before")
    client = redis.Redis.from_url(services.redis_url())
    await client.flushdb()  # as a restart without persistence would
    await client.aclose()
    # The consumer group is gone with the stream; the worker makes it again.
    waiting = asyncio.create_task(worker.dequeue("m/x"))
    assert await api.restore("m/x", ["queued-before"]) == 1
    assert await asyncio.wait_for(waiting, 10) == "queued-before"
    # Subscriptions carry on with new entries.
    async with api.subscribe("p") as subscription:
        worker.publish(Event("p", EventKind.STATUS))
        assert (await subscription.next(2)).kind is EventKind.STATUS


async def test_an_id_taken_by_a_worker_killed_before_clearing_it_is_queued_again(brokers):
    api, worker = brokers
    await api.enqueue("m/x", "p-taken")
    await api.enqueue("m/x", "p-later")
    # What a worker killed between its read and the clean-up leaves: the entry read by
    # the group, still in the stream, its id still in the queued set.
    raw = redis.Redis.from_url(services.redis_url())
    try:
        await raw.xgroup_create(queue_key("m/x"), GROUP, id="0", mkstream=True)
        taken = await raw.xreadgroup(GROUP, "killed", {queue_key("m/x"): ">"}, count=1,
                                     noack=True)
        assert taken[0][1][0][1][b"id"] == b"p-taken"
    finally:
        await raw.aclose()
    # Not on the first look (a live worker may be clearing it right now), on the second.
    assert await worker.restore("m/x", ["p-taken", "p-later"]) == 0
    assert await worker.restore("m/x", ["p-taken", "p-later"]) == 1
    got = {await asyncio.wait_for(worker.dequeue("m/x"), 5) for _ in range(2)}
    assert got == {"p-taken", "p-later"}
    raw = redis.Redis.from_url(services.redis_url())
    try:  # the stranded entry is gone with the others: nothing left to find again
        assert await raw.xlen(queue_key("m/x")) == 0
    finally:
        await raw.aclose()


async def test_enqueue_while_redis_is_away_does_not_fail(monkeypatch):
    broker = RedisBroker("redis://127.0.0.1:1/0")  # nothing listens there
    await broker.enqueue("m/x", "p")  # logged; the workers' restore queues it later
    with pytest.raises(Exception, match="does not answer"):
        await broker.ping()
    await broker._redis.aclose()


async def test_close_ends_even_when_redis_py_swallows_the_cancellation(monkeypatch):
    """redis-py can eat a cancellation that lands mid-command and carry on; close() must
    still end, and the ids its pump took still go back to the queue."""
    await services.empty_redis()
    broker, other = RedisBroker(services.redis_url()), RedisBroker(services.redis_url())
    xread, xreadgroup = broker._redis.xread, broker._redis.xreadgroup

    async def stubborn(call, *args, **kwargs):
        try:
            return await call(*args, **kwargs)
        except asyncio.CancelledError:
            return await call(*args, **kwargs)  # as if it never came

    monkeypatch.setattr(broker._redis, "xread", lambda *a, **k: stubborn(xread, *a, **k))
    monkeypatch.setattr(broker._redis, "xreadgroup",
                        lambda *a, **k: stubborn(xreadgroup, *a, **k))
    await broker.open()
    await other.open()
    consumer = asyncio.create_task(broker.dequeue("m/x"))
    await asyncio.sleep(0.2)  # its pump is blocked in XREADGROUP, the reader in XREAD
    consumer.cancel()
    await other.enqueue("m/x", "p1")  # the pump takes it after its consumer left
    await asyncio.wait_for(broker.close(), 10)
    assert all(task.done() for task in broker._tasks)
    assert await asyncio.wait_for(other.dequeue("m/x"), 5) == "p1"
    await other.close()


def test_the_tests_redis_is_their_own_not_a_shared_one(monkeypatch):
    monkeypatch.delenv("REPLICAST_TEST_REDIS_URL", raising=False)
    url = services.redis_url()
    assert url.startswith("redis://127.0.0.1:") and ":6379/" not in url
    server = services._private_redis
    assert server is not None and server.process is not None
    assert server.process.poll() is None  # a redis-server this run started
