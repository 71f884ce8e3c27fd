"""The in-process broker: queues and channels in this process's memory."""

from __future__ import annotations

import asyncio
import collections
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from replicast.broker.base import Broker, Subscription
from replicast.predictions.events import Event, EventKind

_FINISHED_REMEMBERED = 10_000


class _MemorySubscription(Subscription):
    """Events in a deque, and at most one waiter: lighter than an asyncio.Queue."""

    def __init__(self) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._callback: Callable[[Event], None] | None = None

    def listen(self, callback: Callable[[Event], None] | None) -> None:
        self._callback = callback

    def deliver(self, event: Event) -> None:
        if self._callback is not None:
            self._callback(event)
            return
        self._events.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> Event | None:
        if not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, timeout)
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._events.popleft()


class MemoryBroker(Broker):
    """Queues and channels held in this process's memory."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self._channels: defaultdict[str, set[_MemorySubscription]] = defaultdict(set)
        self._unwritten: dict[str, list[Event]] = {}  # progress not yet in the store
        # Recently finished predictions: progress published after the end (a model still
        # winding down) is not kept, or it would stay for ever.
        self._finished: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def enqueue(self, model: str, prediction_id: str) -> None:
        self._queues[model].put_nowait(prediction_id)

    async def dequeue(self, model: str) -> str:
        return await self._queues[model].get()

    def publish(self, event: Event) -> None:
        self._remember(event)
        for subscription in tuple(self._channels.get(event.prediction_id, ())):
            subscription.deliver(event)

    def _remember(self, event: Event) -> None:
        if event.kind is EventKind.PROGRESS:
            if event.prediction_id not in self._finished:
                self._unwritten.setdefault(event.prediction_id, []).append(event)
        elif event.kind is EventKind.PERSISTED and event.prediction_id in self._unwritten:
            logs, items = event.data
            kept = [e for e in self._unwritten[event.prediction_id]
                    if e.data.logs_offset + len(e.data.logs) > logs
                    or e.data.items_offset + len(e.data.items) > items]
            if kept:
                self._unwritten[event.prediction_id] = kept
            else:
                del self._unwritten[event.prediction_id]
        elif event.kind is EventKind.STATUS:
            self._unwritten.pop(event.prediction_id, None)
            if event.prediction is not None and event.prediction.terminal:
                self._finished[event.prediction_id] = None
                if len(self._finished) > _FINISHED_REMEMBERED:
                    self._finished.popitem(last=False)

    @asynccontextmanager
    async def subscribe(self, prediction_id: str, *,
                        replay: bool = False) -> AsyncIterator[Subscription]:
        subscription = _MemorySubscription()
        if replay:
            for event in self._unwritten.get(prediction_id, ()):
                subscription.deliver(event)
        channel = self._channels[prediction_id]
        channel.add(subscription)
        try:
            yield subscription
        finally:
            channel.discard(subscription)
            if not channel and self._channels.get(prediction_id) is channel:
                del self._channels[prediction_id]
