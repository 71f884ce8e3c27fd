"""The in-process broker: queues and channels in this process's memory.

Nothing is lost here by a restart of its own, but an id a worker took and could not
start (the store failed it) leaves the queue: ``restore`` puts back what the store
says is waiting and the queue lacks.

Its consumers are this process's: a new prediction can be offered straight to one that
waits (``offer``, ``replicast.broker.offer``).
"""

from __future__ import annotations

import asyncio
import collections
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from replicast.broker.base import Broker, Subscription
from replicast.broker.fanout import LocalSubscription, Unwritten
from replicast.broker.offer import Offer
from replicast.predictions.events import Event


class MemoryBroker(Broker):
    """Queues and channels held in this process's memory."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, _Queue] = defaultdict(_Queue)
        self._queued: defaultdict[str, set[str]] = defaultdict(set)  # what each queue holds
        self._channels: defaultdict[str, set[LocalSubscription]] = defaultdict(set)
        self._unwritten = Unwritten()

    async def enqueue(self, model: str, prediction_id: str) -> None:
        self._queued[model].add(prediction_id)
        self._queues[model].put(prediction_id)

    async def dequeue(self, model: str) -> str | Offer:
        taken = await self._queues[model].get()
        if isinstance(taken, str):
            self._queued[model].discard(taken)
        return taken

    def consumer_waits(self, model: str) -> bool:
        queue = self._queues.get(model)
        return queue is not None and queue.waited_for

    def offer(self, model: str, offer: Offer) -> bool:
        queue = self._queues.get(model)
        return queue is not None and queue.hand(offer)

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


class _Queue:
    """Prediction ids, oldest first, and the consumers waiting for one (``asyncio.Queue``
    has no way to hand an item to a waiting consumer only)."""

    def __init__(self) -> None:
        self._ids: collections.deque[str] = collections.deque()
        self._waiting: collections.deque[asyncio.Future[str | Offer]] = collections.deque()

    @property
    def waited_for(self) -> bool:
        return any(not waiter.done() for waiter in self._waiting)

    def put(self, prediction_id: str) -> None:
        if not self.hand(prediction_id):
            self._ids.append(prediction_id)

    def hand(self, item: str | Offer) -> bool:
        """Give ``item`` to the consumer waiting longest, if one waits."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    async def get(self) -> str | Offer:
        if self._ids:
            return self._ids.popleft()
        waiter: asyncio.Future[str | Offer] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Handed over as this consumer was stopped: the id to the next one, at the
                # front of the queue; an offer back to its create.
                item = waiter.result()
                if isinstance(item, Offer):
                    item.decline()
                elif not self.hand(item):
                    self._ids.appendleft(item)
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise
