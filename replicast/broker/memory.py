"""The in-process broker: queues and channels in this process's memory.

Nothing is lost here by a restart of its own, but an id a worker took and could not
start (the store failed it) leaves the queue: ``restore`` puts back what the store
says is waiting and the queue lacks.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from replicast.broker.base import Broker, Subscription
from replicast.broker.fanout import LocalSubscription, Unwritten
from replicast.predictions.events import Event


class MemoryBroker(Broker):
    """Queues and channels held in this process's memory."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self._queued: defaultdict[str, set[str]] = defaultdict(set)  # what each queue holds
        self._channels: defaultdict[str, set[LocalSubscription]] = defaultdict(set)
        self._unwritten = Unwritten()

    async def enqueue(self, model: str, prediction_id: str) -> None:
        self._queues[model].put_nowait(prediction_id)
        self._queued[model].add(prediction_id)

    async def dequeue(self, model: str) -> str:
        prediction_id = await self._queues[model].get()
        self._queued[model].discard(prediction_id)
        return prediction_id

    async def restore(self, model: str, prediction_ids: Sequence[str]) -> int:
        # One a worker has just taken may come back too: its start then finds it taken.
        missing = [i for i in prediction_ids if i not in self._queued[model]]
        for prediction_id in missing:
            await self.enqueue(model, prediction_id)
        return len(missing)

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
