"""What happens to a prediction, as told to waiters, streams and workers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from replicast.predictions.prediction import Prediction


class EventKind(StrEnum):
    """The kinds of event published on a prediction's channel."""

    STATUS = "status"
    """The status changed; ``prediction`` is the state after the change."""
    PROGRESS = "progress"
    """A running prediction gained logs or output; ``data`` is a ``Progress``. Announced
    at once; written to the store later."""
    PERSISTED = "persisted"
    """Progress up to ``data`` = (logs length, output items) is now in the store."""
    CANCEL = "cancel"
    """Whoever runs the prediction should stop it and finish it as canceled, appending
    ``data`` (a note, or "") to its logs."""
    PREVIEW = "preview"
    """A running prediction's image as it stands partway (asked for by
    ``Prediction.previews``); ``data`` is a ``preview_data`` dict. Never stored: only
    those listening then see it."""
    NUDGE = "nudge"
    """Whoever runs the prediction may have news waiting elsewhere (an upstream's
    webhook came): a hint to look now, which changes nothing by itself."""


@dataclass(frozen=True, slots=True)
class Progress:
    """What a running prediction gained, and where in its logs and output it goes."""

    logs_offset: int
    """Length of the logs before ``logs`` was appended."""
    logs: str = ""
    items_offset: int = 0
    """Length of the output list before ``items`` were appended."""
    items: tuple[Any, ...] = ()


def preview_data(index: int, image: bytes, image_format: str) -> dict[str, Any]:
    """An ``EventKind.PREVIEW`` event's data: the ``index``-th preview (from 0), its
    bytes in base64, and their format (``png``, ``jpeg``, ``webp``)."""
    return {"index": index, "b64": base64.b64encode(image).decode(), "format": image_format}


@dataclass(frozen=True, slots=True)
class Event:
    """One event on a prediction's channel."""

    prediction_id: str
    kind: EventKind
    prediction: Prediction | None = None
    data: Any = None
