"""Where a waiting prediction stands in its model's queue, and when it may start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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
