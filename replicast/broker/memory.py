"""The in-process broker: asyncio queues, for one process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from replicast.broker.base import Broker, Subscription
from replicast.predictions.events import Event


class _QueueSubscription(Subscription):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def next(self, timeout: float | None = None) -> Event | None:
        if timeout is None:
            return await self.queue.get()
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class MemoryBroker(Broker):
    """Queues and channels held in this process's memory."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self._channels: defaultdict[str, set[_QueueSubscription]] = defaultdict(set)

    async def enqueue(self, model: str, prediction_id: str) -> None:
        self._queues[model].put_nowait(prediction_id)

    async def dequeue(self, model: str) -> str:
        return await self._queues[model].get()

    async def publish(self, event: Event) -> None:
        for subscription in self._channels.get(event.prediction_id, ()):
            subscription.queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, prediction_id: str) -> AsyncIterator[Subscription]:
        subscription = _QueueSubscription()
        channel = self._channels[prediction_id]
        channel.add(subscription)
        try:
            yield subscription
        finally:
            channel.discard(subscription)
            if not channel and self._channels.get(prediction_id) is channel:
                del self._channels[prediction_id]
