"""Deliveries: one webhook request to make, kept in the store's outbox until it is done.

Plain records; what goes in a delivery's body is ``emitter.py``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class WebhookEvent(StrEnum):
    """The events of ``webhook_events_filter``."""

    START = "start"
    OUTPUT = "output"
    LOGS = "logs"
    COMPLETED = "completed"


ALL_EVENTS = [event.value for event in WebhookEvent]


class DeliveryState(StrEnum):
    """Where a delivery is: still to be made (or retried), made, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request: the same ``id`` and body on every attempt."""

    id: str
    prediction_id: str
    account_id: int
    event: WebhookEvent
    url: str
    payload: bytes
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    """When pending: when it is due, or when the claim of whoever is sending it lapses."""
    retry_until: datetime | None = None
    """Retries stop after this; None means one attempt only."""
    finished_at: datetime | None = None
    seq: int = 0
    """Order of creation in the store; a prediction's deliveries go out in this order."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a delivery, for people to see why a webhook did or did not arrive."""

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
