"""Deliveries: one webhook request to make, kept in the store's outbox until it is done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import orjson

from replicast import ids
from replicast.predictions import representation
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status

if TYPE_CHECKING:
    from replicast.outputs.signing import OutputLinks


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


def wants(prediction: Prediction, event: WebhookEvent) -> bool:
    """Whether the prediction asked for webhooks of this event."""
    if prediction.webhook is None:
        return False
    wanted = prediction.webhook_events_filter
    return event.value in (ALL_EVENTS if wanted is None else wanted)


def status_event(prediction: Prediction) -> WebhookEvent | None:
    """The event a status change is: ``start`` into processing, ``completed`` at the end."""
    if prediction.status is Status.PROCESSING:
        return WebhookEvent.START
    if prediction.terminal:
        return WebhookEvent.COMPLETED
    return None


def new_delivery(prediction: Prediction, event: WebhookEvent, *, now: datetime,
                 retry_window: timedelta, links: OutputLinks | None) -> Delivery:
    """The delivery of ``event`` for the prediction as it is now (the body is its JSON).

    Only ``completed`` is retried: intermediate events are sent once, as Replicate does.
    """
    assert prediction.webhook is not None
    return Delivery(
        id=f"msg_{ids.random_id(26)}",
        prediction_id=prediction.id,
        account_id=prediction.account_id,
        event=event,
        url=prediction.webhook,
        payload=orjson.dumps(representation.to_json(prediction, links=links)),
        created_at=now,
        next_attempt_at=now,
        retry_until=now + retry_window if event is WebhookEvent.COMPLETED else None,
    )
