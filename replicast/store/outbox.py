"""The webhook outbox: deliveries still to make, claimed by dispatchers, and their attempts.

The deliveries that report a status change are inserted by ``PredictionStore.update``
in the change's own transaction; ``insert`` here adds the others.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState


class OutboxStore(abc.ABC):
    """Webhook deliveries, their attempts, and each account's signing secret. Every
    method is safe to call from the event loop."""

    @abc.abstractmethod
    async def insert(self, deliveries: Sequence[Delivery], *,
                     while_running: str | None = None) -> bool:
        """Add deliveries to the outbox; with ``while_running``, only if that prediction
        is still processing. Whether they were added."""

    @abc.abstractmethod
    async def claim(self, now: datetime, lease_until: datetime, limit: int,
                    claimant: str | None = None) -> list[Delivery]:
        """Take up to ``limit`` due deliveries, each the oldest pending one of its
        prediction, until ``lease_until`` (then they fall due again), for ``claimant``."""

    @abc.abstractmethod
    async def release_claims(self, now: datetime, claimant: str | None = None) -> int:
        """Make the pending deliveries claimed by ``claimant`` (by anyone, if None) due at
        ``now``: their attempts were abandoned. How many there were."""

    @abc.abstractmethod
    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due, or None if none is pending."""

    @abc.abstractmethod
    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *,
                             state: DeliveryState, next_attempt_at: datetime | None) -> None:
        """Record an attempt and what comes next: done, given up, or a retry at a time."""

    @abc.abstractmethod
    async def of_prediction(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        """A prediction's deliveries, oldest first, each with its attempts."""

    @abc.abstractmethod
    async def backlog(self) -> dict[str, int]:
        """How many webhook deliveries are in each state (pending, delivered, failed)."""

    @abc.abstractmethod
    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        """The account's webhook signing secret; ``proposed`` becomes it if it has none."""
