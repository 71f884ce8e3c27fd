"""The in-process broker: queues and channels in this process's memory."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from replicast.broker.base import Broker, Subscription
from replicast.broker.local import LocalSubscription, Unwritten
from replicast.predictions.events import Event


class MemoryBroker(Broker):
    """Queues and channels held in this process's memory."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self._channels: defaultdict[str, set[LocalSubscription]] = defaultdict(set)
        self._unwritten = Unwritten()

    async def enqueue(self, model: str, prediction_id: str) -> None:
        self._queues[model].put_nowait(prediction_id)

    async def dequeue(self, model: str) -> str:
        return await self._queues[model].get()

    def publish(self, event: Event) -> None:
        self._unwritten.note(event)
        for subscription in tuple(self._channels.get(event.prediction_id, ())):
            subscription.deliver(event)

    @asynccontextmanager
    async def subscribe(self, prediction_id: str, *,
                        replay: bool = False) -> AsyncIterator[Subscription]:
        subscription = LocalSubscription()
        if replay:
            for event in self._unwritten.of(prediction_id):
                subscription.deliver(event)
        channel = self._channels[prediction_id]
        channel.add(subscription)
        try:
            yield subscription
        finally:
            channel.discard(subscription)
            if not channel and self._channels.get(prediction_id) is channel:
                del self._channels[prediction_id]
