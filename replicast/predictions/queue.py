"""Where a waiting prediction stands in its model's queue, when it may start, and that in words."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from replicast import times

RECENT_RUNS = 20
"""How many of a model's latest successful runs its estimates are drawn from."""


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """A ``starting`` prediction's place in its model's queue (a Replicast extension)."""

    position: int
    """1 for the next to start: one more than the predictions of its model waiting
    ahead of it."""
    estimated_start: datetime | None
    """When it may start, from the model's recent run times; None before any run."""


def place(ahead: int, run_seconds: Sequence[float], slots: int, now: datetime) -> QueuePlace:
    """The place of a prediction with ``ahead`` waiting before it, for a model whose
    recent runs took ``run_seconds`` and which runs ``slots`` predictions at once.

    Each run that ends lets the next waiting one start: the prediction starts once
    those ahead of it and itself have each had a slot freed, ``position / slots``
    mean runs from now.
    """
    position = ahead + 1
    if not run_seconds:
        return QueuePlace(position, None)
    mean = sum(run_seconds) / len(run_seconds)
    return QueuePlace(position, now + timedelta(seconds=mean * position / max(1, slots)))


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``22nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(position: int, seconds: float | None) -> str:
    """A queue place in words, as the pages and ``replicast run`` show it:
    ``3rd in the queue, starting in about 40 s``. ``seconds``: until the estimated
    start, None where there is no estimate. ``static/app.js`` words it the same way."""
    where = "Next in the queue" if position <= 1 else f"{ordinal(position)} in the queue"
    if seconds is None:
        return where
    if seconds < 1:
        return f"{where}, starting soon"
    if seconds < 90:
        return f"{where}, starting in about {round(seconds)} s"
    return f"{where}, starting in about {round(seconds / 60)} min"


def describe_json(queue: Any, now: datetime) -> str | None:
    """A prediction's ``queue`` field, as the API returns it, in words at ``now``; None
    for a prediction without one (or from a server that words it otherwise)."""
    if not isinstance(queue, dict) or not isinstance(queue.get("position"), int):
        return None
    seconds = None
    if isinstance(queue.get("estimated_start"), str):
        with contextlib.suppress(ValueError):  # a server's own wording: no estimate
            seconds = (times.parse_rfc3339(queue["estimated_start"]) - now).total_seconds()
    return describe(queue["position"], seconds)
