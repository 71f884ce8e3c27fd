"""The shared broker: Redis Streams carry the queues and every prediction's events.

Queues. Each model has a stream, ``replicast:queue:<model>``, read through the
consumer group ``workers``: each entry reaches one worker. A worker deletes the
entry as it reads it; the store's compare-and-set on ``starting`` is what makes a
prediction run once, so an entry queued twice costs a failed claim, nothing more.
The set ``replicast:queued:<model>`` holds the ids in the stream, so that
``restore`` can put back exactly what Redis lost (a restart, or a create whose
enqueue failed) from what the store says is waiting.

Events. Each prediction has a stream, ``replicast:events:<id>`` (capped, expiring a
day after its last event). Publishing never blocks: events go out in order from a
background task, which retries while Redis is away. One reader task per process
follows every stream that someone here is subscribed to, in one blocking ``XREAD``;
a new subscription wakes it through a stream of this process's own. A subscription
starts from the last entry when it subscribes, so it misses nothing that follows,
and with ``replay`` it first receives the progress not yet in the store, worked
out from the stream's history.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from replicast import ids
from replicast.broker import codec
from replicast.broker.base import Broker, Subscription
from replicast.broker.fanout import LocalSubscription, unwritten_progress
from replicast.errors import BrokerError, ConfigError
from replicast.predictions.events import Event

log = logging.getLogger(__name__)

PREFIX = "replicast:"
GROUP = "workers"
EVENTS_KEPT = 10_000
"""Entries kept in a prediction's event stream (approximately)."""
EVENTS_TTL = 24 * 3600
BLOCK_MS = 2_000
_OUTBOX_LIMIT = 200_000
_RETRY_MAX = 2.0


def queue_key(model: str) -> str:
    return f"{PREFIX}queue:{model}"


def queued_key(model: str) -> str:
    return f"{PREFIX}queued:{model}"


def events_key(prediction_id: str) -> str:
    return f"{PREFIX}events:{prediction_id}"


@dataclass(eq=False)
class _Follower:
    """A subscription and where in its stream it is."""

    key: str
    subscription: LocalSubscription
    start: str
    """The last entry it has seen (or was given when it subscribed)."""


@dataclass
class _Queue:
    """A model's queue in this process: who waits for an id, and ids no one took yet."""

    waiters: collections.deque[asyncio.Future[str]] = field(default_factory=collections.deque)
    taken: collections.deque[str] = field(default_factory=collections.deque)
    pump: asyncio.Task[None] | None = None


@dataclass
class _Taken:
    """What one read of a queue took: its stream entries and the ids they carry."""

    entry_ids: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


@dataclass
class _Reader:
    """What the reader task follows."""

    followers: dict[str, set[_Follower]] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    joining: list[_Follower] = field(default_factory=list)


class RedisBroker(Broker):
    """Queues and channels in Redis, shared by every process that uses the same URL."""

    shared = True

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio as redis
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("REPLICAST_BROKER_URL is Redis, which needs the redis extra: "
                              "pip install 'replicast[redis]'") from None
        # redis-py's replies are typed as unions of everything; we know their shapes.
        self._redis: Any = redis.Redis.from_url(
            url, decode_responses=False, health_check_interval=30,
            # Blocking reads last BLOCK_MS; a socket silent for longer is dead.
            socket_timeout=BLOCK_MS / 1000 + 5, socket_connect_timeout=5)
        self._errors = redis.RedisError
        self._no_group = redis.ResponseError
        self._url = url
        self._name = ids.random_id(12)
        self._wake_key = f"{PREFIX}wake:{self._name}"
        self._outbox: collections.deque[Event] = collections.deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._reader = _Reader()
        self._tasks: list[asyncio.Task[None]] = []
        self._groups: set[str] = set()
        self._queues: dict[str, _Queue] = {}
        self._suspects: dict[str, dict[bytes, str]] = {}  # stranded entries seen last time
        self._closing = False

    async def open(self) -> None:
        await self.ping()
        self._tasks = [asyncio.create_task(self._publish_forever(), name="redis-publisher"),
                       asyncio.create_task(self._read_forever(), name="redis-reader")]

    async def close(self) -> None:
        # Send what is still waiting to go out, briefly, then stop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), 2.0)
        self._closing = True
        tasks = [*self._tasks, *(q.pump for q in self._queues.values() if q.pump is not None)]
        for task in tasks:
            task.cancel()
        # redis-py can swallow a cancellation that lands mid-command, so the loops also
        # end on _closing, at the latest when their blocking read returns; dropping the
        # connections ends a read that still hangs on.
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            if pending:
                await self._redis.connection_pool.disconnect()
                _, pending = await asyncio.wait(pending, timeout=BLOCK_MS / 1000 + 1)
            for task in pending:
                log.warning("Redis task %s did not stop", task.get_name())
        # Ids taken from Redis that no one here ran: back to the queue for another worker.
        for model, queue in self._queues.items():
            for prediction_id in queue.taken:
                await self.enqueue(model, prediction_id)
        with contextlib.suppress(Exception):
            await self._redis.delete(self._wake_key)
        await self._redis.aclose()

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except self._errors as exc:
            raise BrokerError(f"Redis at {self._safe_url()} does not answer: {exc}") from exc

    def _safe_url(self) -> str:
        scheme, _, rest = self._url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    # queues

    async def enqueue(self, model: str, prediction_id: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(queued_key(model), prediction_id)
                pipe.xadd(queue_key(model), {"id": prediction_id})
                await pipe.execute()
        except self._errors as exc:
            # The prediction is in the store: the workers' restore will queue it.
            log.warning("could not queue prediction %s in Redis (%s); it will be queued "
                        "when Redis answers again", prediction_id, exc)

    async def dequeue(self, model: str) -> str:
        queue = self._queues.get(model)
        if queue is None:
            queue = self._queues[model] = _Queue()
        if queue.taken:
            return queue.taken.popleft()
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        if queue.pump is None or queue.pump.done():
            queue.pump = asyncio.create_task(self._pump(model, queue), name=f"queue-{model}")
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                queue.taken.appendleft(waiter.result())  # handed over as we were stopped
            else:
                with contextlib.suppress(ValueError):
                    queue.waiters.remove(waiter)
            raise

    async def _pump(self, model: str, queue: _Queue) -> None:
        """One reader per model, however many consumers wait: ids go to them in turn."""
        delay = 0.05
        while queue.waiters and not self._closing:
            try:
                taken = await self._read_queue(model, len(queue.waiters))
            except self._errors as exc:
                log.warning("reading the queue of %s from Redis failed (%s); retrying",
                            model, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = 0.05
            # Handed on before the entries are forgotten: a stop while forgetting them
            # must not lose ids already taken (close() queues the unclaimed ones again).
            for prediction_id in taken.ids:
                while queue.waiters and queue.waiters[0].done():
                    queue.waiters.popleft()
                if queue.waiters:
                    queue.waiters.popleft().set_result(prediction_id)
                else:  # its consumer went away meanwhile: keep it for the next one
                    queue.taken.append(prediction_id)
            if taken.ids:
                try:
                    await self._forget(model, taken)
                except self._errors as exc:
                    log.warning("could not clear taken entries of %s from Redis: %s",
                                model, exc)

    async def _read_queue(self, model: str, count: int) -> _Taken:
        key = queue_key(model)
        if key not in self._groups:
            with contextlib.suppress(self._no_group):  # BUSYGROUP: it exists already
                await self._redis.xgroup_create(key, GROUP, id="0", mkstream=True)
            self._groups.add(key)
        try:
            reply = await self._redis.xreadgroup(GROUP, self._name, {key: ">"}, count=count,
                                                 block=BLOCK_MS, noack=True)
        except self._no_group as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._groups.discard(key)  # Redis lost it (a restart): make it again
            return _Taken()
        if not reply:
            return _Taken()
        entries = reply[0][1]
        return _Taken([entry_id for entry_id, _ in entries],
                      [str(fields[b"id"].decode()) for _, fields in entries])

    async def _forget(self, model: str, taken: _Taken) -> None:
        """Delete taken entries from the stream and their ids from the queued set."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xdel(queue_key(model), *taken.entry_ids)
            pipe.srem(queued_key(model), *taken.ids)
            await pipe.execute()

    async def restore(self, model: str, prediction_ids: Sequence[str]) -> int:
        """Also those taken from the queue by a worker that stopped before it cleared
        them (killed between its read and the clean-up): their entries stay in the stream
        at or before the group's last delivered entry, where no read finds them again.
        Such an entry seen by two restores in a row (a live worker clears its own within
        milliseconds) is deleted and its id queued again."""
        if not prediction_ids:
            return 0
        try:
            present = await self._redis.smismember(queued_key(model), list(prediction_ids))
            stranded = await self._stranded(model, set(prediction_ids))
        except self._errors as exc:
            raise BrokerError(f"cannot read the queue of {model}: {exc}") from exc
        missing = [pid for pid, there in zip(prediction_ids, present, strict=True) if not there]
        suspects, self._suspects[model] = self._suspects.get(model, {}), stranded
        again = {entry_id: pid for entry_id, pid in stranded.items()
                 if suspects.get(entry_id) == pid}
        if again:
            try:
                await self._redis.xdel(queue_key(model), *again)
            except self._errors as exc:
                raise BrokerError(f"cannot read the queue of {model}: {exc}") from exc
        for prediction_id in [*missing, *again.values()]:
            await self.enqueue(model, prediction_id)
        return len(missing) + len(again)

    async def _stranded(self, model: str, waiting: set[str]) -> dict[bytes, str]:
        """Entries (id -> prediction id) of ``waiting`` predictions that the group has
        delivered but that are still in the stream: normally none, or a few being cleared."""
        key = queue_key(model)
        try:
            groups = await self._redis.xinfo_groups(key)
        except self._errors:
            return {}  # no stream (or group) yet: nothing was delivered
        delivered = next((g.get("last-delivered-id") for g in groups
                          if g.get("name") in (GROUP, GROUP.encode())), None)
        if not delivered or delivered in (b"0-0", "0-0"):
            return {}
        found: dict[bytes, str] = {}
        for entry_id, fields in await self._redis.xrange(key, "-", delivered, count=1000):
            prediction_id = fields.get(b"id", b"").decode()
            if prediction_id in waiting:
                found[entry_id] = prediction_id
        return found

    # events

    def publish(self, event: Event) -> None:
        if len(self._outbox) >= _OUTBOX_LIMIT:
            self._outbox.popleft()
            log.error("Redis has been away too long: dropped the oldest unsent event")
        self._outbox.append(event)
        self._outbox_ready.set()
        self._outbox_empty.clear()

    async def _drained(self) -> None:
        await self._outbox_empty.wait()

    async def _publish_forever(self) -> None:
        delay = 0.05
        while not self._closing:
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            batch = list(self._outbox)[:500]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event in batch:
                        key = events_key(event.prediction_id)
                        pipe.xadd(key, {"e": codec.encode(event)}, maxlen=EVENTS_KEPT,
                                  approximate=True)
                        pipe.expire(key, EVENTS_TTL)
                    await pipe.execute()
            except self._errors as exc:
                log.warning("publishing events to Redis failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = 0.05
            for _ in batch:
                self._outbox.popleft()
            if not self._outbox:
                self._outbox_empty.set()

    @asynccontextmanager
    async def subscribe(self, prediction_id: str, *,
                        replay: bool = False) -> AsyncIterator[Subscription]:
        key = events_key(prediction_id)
        subscription = LocalSubscription()
        # What this process published before subscribing is in Redis first, so that a
        # subscription here sees the same history as with the in-process broker.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox_empty.wait(), 1.0)
        try:
            if replay:
                history = await self._redis.xrange(key, count=EVENTS_KEPT)
                for event in unwritten_progress(
                        (codec.decode(fields[b"e"]) for _, fields in history), prediction_id):
                    subscription.deliver(event)
                start = history[-1][0].decode() if history else "0-0"
            else:
                last = await self._redis.xrevrange(key, count=1)
                start = last[0][0].decode() if last else "0-0"
        except self._errors as exc:
            raise BrokerError(f"cannot follow the events of {prediction_id}: {exc}") from exc
        follower = _Follower(key, subscription, start)
        self._reader.joining.append(follower)
        await self._wake()
        try:
            yield subscription
        finally:
            followers = self._reader.followers.get(key)
            if followers is not None:
                followers.discard(follower)
                if not followers:
                    del self._reader.followers[key]
                    self._reader.cursors.pop(key, None)
            with contextlib.suppress(ValueError):
                self._reader.joining.remove(follower)

    async def forget(self, prediction_ids: Sequence[str]) -> None:
        if prediction_ids:
            try:
                await self._redis.delete(*(events_key(pid) for pid in prediction_ids))
            except self._errors as exc:
                raise BrokerError(f"cannot drop the events of finished predictions: {exc}"
                                  ) from exc

    async def _wake(self) -> None:
        with contextlib.suppress(self._errors):  # the reader retries on its own
            await self._redis.xadd(self._wake_key, {"w": b"1"}, maxlen=10, approximate=True)

    async def _read_forever(self) -> None:
        wake_cursor = "$"
        delay = 0.05
        while not self._closing:
            try:
                await self._admit_joining()
                streams: dict[Any, Any] = {self._wake_key: wake_cursor}
                streams.update(self._reader.cursors)
                reply = await self._redis.xread(streams, count=1000, block=BLOCK_MS)
            except self._errors as exc:
                log.warning("reading events from Redis failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = 0.05
            for raw_key, entries in reply or ():
                key = raw_key.decode()
                if key == self._wake_key:
                    wake_cursor = entries[-1][0].decode()
                    continue
                self._dispatch(key, entries)

    async def _admit_joining(self) -> None:
        """Start following the streams of new subscriptions, each from its own start."""
        reader = self._reader
        while reader.joining:
            follower = reader.joining.pop(0)
            cursor = reader.cursors.get(follower.key)
            if cursor is not None and _before(follower.start, cursor):
                # Already followed from further on: hand this one the entries between.
                gap = await self._redis.xrange(follower.key, min=f"({follower.start}",
                                               max=cursor)
                for _, fields in gap:
                    follower.subscription.deliver(codec.decode(fields[b"e"]))
            elif cursor is None or _before(cursor, follower.start):
                reader.cursors[follower.key] = follower.start if cursor is None else cursor
            reader.followers.setdefault(follower.key, set()).add(follower)

    def _dispatch(self, key: str, entries: list[Any]) -> None:
        followers = self._reader.followers.get(key)
        if not followers:
            return
        for entry_id, fields in entries:
            event = codec.decode(fields[b"e"])
            entry = entry_id.decode()
            for follower in tuple(followers):
                if _before(follower.start, entry):
                    follower.subscription.deliver(event)
        self._reader.cursors[key] = entries[-1][0].decode()


def _before(a: str, b: str) -> bool:
    """Whether stream entry id ``a`` comes before ``b``."""
    a_ms, _, a_seq = a.partition("-")
    b_ms, _, b_seq = b.partition("-")
    return (int(a_ms), int(a_seq or 0)) < (int(b_ms), int(b_seq or 0))
