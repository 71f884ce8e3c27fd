"""The prediction status machine, kept as data."""

from __future__ import annotations

from enum import StrEnum

from replicast.errors import IllegalTransition


class Status(StrEnum):
    """Where a prediction is in its life; the values are Replicate's."""

    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        """Whether nothing can change this status any more."""
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.ABORTED})

# processing -> starting puts back a run that a stopped process left unfinished.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.STARTING: frozenset(
        {Status.PROCESSING, Status.CANCELED, Status.ABORTED, Status.FAILED}
    ),
    Status.PROCESSING: frozenset(
        {Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.STARTING}
    ),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
    Status.ABORTED: frozenset(),
}


def sources_of(target: Status) -> frozenset[Status]:
    """Every status from which ``target`` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def check_transition(current: Status, target: Status) -> None:
    """Raise ``IllegalTransition`` unless ``current -> target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a prediction cannot go from {current} to {target}")
