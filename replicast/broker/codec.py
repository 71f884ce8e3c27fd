"""Events as bytes, for brokers that carry them between processes.

A prediction travels whole (it is what waiters and streams answer with), except its
secrets: those never leave the store.
"""

from __future__ import annotations

from typing import Any

import orjson

from replicast import times
from replicast.predictions.events import Event, EventKind, Progress
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status

_TIMES = ("created_at", "started_at", "completed_at", "deadline", "lease_until")


def encode(event: Event) -> bytes:
    """An event as JSON."""
    data: Any = event.data
    if isinstance(data, Progress):
        data = [data.logs_offset, data.logs, data.items_offset, list(data.items)]
    elif isinstance(data, tuple):
        data = list(data)
    return orjson.dumps({
        "id": event.prediction_id, "kind": event.kind.value, "data": data,
        "prediction": None if event.prediction is None else _prediction(event.prediction),
    })


def decode(raw: bytes) -> Event:
    """An event from ``encode``'s JSON."""
    body = orjson.loads(raw)
    kind = EventKind(body["kind"])
    data = body["data"]
    if kind is EventKind.PROGRESS:
        data = Progress(data[0], data[1], data[2], tuple(data[3]))
    elif kind is EventKind.PERSISTED:
        data = tuple(data)
    prediction = body["prediction"]
    return Event(body["id"], kind, None if prediction is None else _from_dict(prediction), data)


def _prediction(p: Prediction) -> dict[str, Any]:
    fields = {name: getattr(p, name) for name in Prediction.__slots__ if name != "secrets"}
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = times.format_rfc3339(fields[name])
    fields["status"] = p.status.value
    return fields


def _from_dict(fields: dict[str, Any]) -> Prediction:
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = times.parse_rfc3339(fields[name])
    fields["status"] = Status(fields["status"])
    return Prediction(**fields)
