"""Routes about webhooks: the signing secret, and what happened to a prediction's webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from replicast import times
from replicast.http.responses import json_response
from replicast.state import app_state, authenticate
from replicast.webhooks import signing
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState


async def default_secret(request: Request) -> Response:
    """``GET /v1/webhooks/default/secret``: the key the account's webhooks are signed with."""
    account = await authenticate(request)
    key = await app_state(request).store.outbox.webhook_secret(account.id, signing.new_secret())
    return json_response({"key": key})


async def prediction_deliveries(request: Request) -> Response:
    """``GET /v1/predictions/{id}/webhooks``: every delivery of a prediction and its attempts.

    A Replicast addition to Replicate's API, to see why a webhook did or did not arrive.
    """
    account = await authenticate(request)
    state = app_state(request)
    prediction = await state.predictions.get(account, request.path_params["id"])
    found = await state.store.outbox.of_prediction(prediction.id)
    return json_response({"results": [_delivery(d, attempts) for d, attempts in found]})


def _time(value: datetime | None) -> str | None:
    return None if value is None else times.format_rfc3339(value)


def _delivery(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event.value,
        "url": delivery.url,
        "state": delivery.state.value,
        "created_at": times.format_rfc3339(delivery.created_at),
        "next_attempt_at": _time(delivery.next_attempt_at
                                 if delivery.state is DeliveryState.PENDING else None),
        "retry_until": _time(delivery.retry_until),
        "attempts": [
            {
                "number": a.number,
                "started_at": times.format_rfc3339(a.started_at),
                "duration_ms": round(a.duration_ms, 3),
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in attempts
        ],
    }
