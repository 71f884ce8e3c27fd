"""The broker: the queue of prediction ids and each prediction's event channel.

The store is the truth; the broker only carries notices. Losing the broker's
contents loses no prediction: at start the worker rebuilds its queue from the
store.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from replicast.broker.offer import Offer
from replicast.predictions.events import Event


class Subscription(abc.ABC):
    """Events published on one prediction's channel after subscribing."""

    @abc.abstractmethod
    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when ``timeout`` seconds pass first."""

    @abc.abstractmethod
    def listen(self, callback: Callable[[Event], None] | None) -> None:
        """Hand each event to ``callback`` as it arrives instead of keeping it for
        ``next``, starting with those kept so far; None goes back to keeping them."""


class Broker(abc.ABC):
    """Carries prediction ids to workers and events to whoever listens."""

    shared: bool = False
    """Whether other processes see this broker's queues and channels. Workers put back
    what the store says is waiting and a queue lacks (``restore``): a shared broker can
    lose its contents (a restart), and any loses the id of a start the store failed."""

    async def open(self) -> None:
        """Connect."""

    async def close(self) -> None:
        """Disconnect."""

    async def ping(self) -> None:
        """Raise ``BrokerError`` unless the broker answers."""

    @abc.abstractmethod
    async def restore(self, model: str, prediction_ids: Sequence[str]) -> int:
        """Queue again those of ``prediction_ids`` (waiting to start, in the store) that
        are not in ``model``'s queue; how many."""

    @abc.abstractmethod
    async def enqueue(self, model: str, prediction_id: str) -> None:
        """Queue a prediction for the workers that serve ``model``."""

    @abc.abstractmethod
    async def dequeue(self, model: str) -> str | Offer:
        """Wait for and take the oldest queued prediction id of ``model``, or a new
        prediction offered to a consumer waiting here (``offer``). A dequeue canceled
        once either was handed to it leaves the id queued, and declines the offer."""

    def consumer_waits(self, model: str) -> bool:
        """Whether a consumer in this process waits for ``model``'s queue now (``offer``
        would find it); by default, never."""
        return False

    def offer(self, model: str, offer: Offer) -> bool:
        """Hand a new prediction straight to a consumer waiting for ``model``'s queue in
        this process (``replicast.broker.offer``); False when none waits, and by default,
        for a broker whose consumers may be other processes."""
        return False

    @abc.abstractmethod
    def publish(self, event: Event) -> None:
        """Send ``event`` to every subscriber of its prediction, in publishing order.

        Never blocks: a backend that needs I/O queues the event and sends it in order.
        Progress events are also kept until a PERSISTED event covers them, for
        subscribers that ask for ``replay``.
        """

    @abc.abstractmethod
    def subscribe(self, prediction_id: str, *, replay: bool = False
                  ) -> AbstractAsyncContextManager[Subscription]:
        """Listen to a prediction's events while the context is open.

        With ``replay``, first receive the progress events published but not yet
        written to the store, so that store state plus events leaves no gap.
        """

    async def forget(self, prediction_ids: Sequence[str]) -> None:
        """Drop whatever the broker still keeps of these finished predictions' events
        (their data is being removed). Nothing to do for brokers that keep none."""
