"""Where a predictor's process stands, as data: the states, the transitions between them,
and the setup report that ``GET /v1/models/...`` shows.

A process is started (``DESCRIBING``), reports the predictor's schema
(``SETTING_UP``; a process that only describes is then ``DESCRIBED``) and finishes its
setup (``READY``). A prediction stopped from the server (a cancel, a failure on its
side) makes it ``WINDING_DOWN`` until the child has stopped it. A predictor with a
``healthcheck()`` has it called while idle (``CHECKING``): one that fails leaves it
``UNHEALTHY`` until one passes (``READY`` again). A process that dies
after its setup is started again (``RESPAWNING``, then ``DESCRIBING``); a setup that
fails, or a process that dies ``CRASH_LIMIT`` times in a row, leaves it ``FAILED``.
Any state but ``CLOSING`` may go to ``CLOSING``, which nothing leaves.

Predictions wait while the runner is in any state but ``READY`` and ``FAILED``; in
``FAILED`` they fail at once, saying why. In ``UNHEALTHY`` the worker does not even take
them off the queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replicast import times
from replicast.models.base import Health


class State(enum.Enum):
    """A predictor runner's state (``PredictorRunner.state``)."""

    NEW = "new"
    """Not started yet."""
    DESCRIBING = "describing"
    """Its process is starting and loading the predictor; its schema is not known yet."""
    SETTING_UP = "setting up"
    """The schema is known; the predictor's ``setup()`` runs."""
    DESCRIBED = "described"
    """A process that only describes the predictor has done so, and exits."""
    READY = "ready"
    """Set up: predictions run, one at a time."""
    CHECKING = "checking"
    """The predictor's ``healthcheck()`` runs in the idle process: predictions wait for
    its answer."""
    UNHEALTHY = "unhealthy"
    """Its last ``healthcheck()`` failed: predictions wait, queued, until one passes."""
    WINDING_DOWN = "winding down"
    """A prediction stopped from the server is being stopped in the process (signals,
    then a kill): nothing new is taken until it has stopped."""
    RESPAWNING = "respawning"
    """The process died after its setup; another starts after a pause."""
    FAILED = "failed"
    """Its setup failed, or its process died too often in a row: predictions fail."""
    CLOSING = "closing"
    """The server stops: the process is closed and nothing starts again."""


TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.DESCRIBING}),
    State.DESCRIBING: frozenset({State.SETTING_UP, State.DESCRIBED, State.FAILED}),
    State.SETTING_UP: frozenset({State.READY, State.FAILED}),
    State.DESCRIBED: frozenset({State.FAILED}),
    State.READY: frozenset({State.WINDING_DOWN, State.CHECKING, State.RESPAWNING,
                            State.FAILED}),
    State.CHECKING: frozenset({State.READY, State.UNHEALTHY, State.RESPAWNING, State.FAILED}),
    State.UNHEALTHY: frozenset({State.CHECKING, State.RESPAWNING, State.FAILED}),
    State.WINDING_DOWN: frozenset({State.READY, State.RESPAWNING, State.FAILED}),
    State.RESPAWNING: frozenset({State.DESCRIBING}),
    State.FAILED: frozenset(),
    State.CLOSING: frozenset(),
}
"""The states each state may change to, besides ``CLOSING`` (which any other may)."""

LOADING = frozenset({State.DESCRIBING, State.SETTING_UP})
"""States whose process has not finished its setup."""
SET_UP = frozenset({State.READY, State.CHECKING, State.UNHEALTHY, State.WINDING_DOWN})
"""States whose process has finished its setup and still runs."""
UNBLOCKED = frozenset({State.READY, State.FAILED})
"""States in which predictions need not wait (they run, or fail at once)."""
PAUSED = frozenset({State.UNHEALTHY})
"""States in which the worker takes none of the model's predictions off the queue: they
stay ``starting`` until the runner is ready again."""


class IllegalTransition(RuntimeError):
    """A change of state that ``TRANSITIONS`` does not allow: a bug in the runner."""


def check_transition(old: State, new: State) -> None:
    """Refuse a change of state that ``TRANSITIONS`` does not allow."""
    if new is State.CLOSING and old is not State.CLOSING:
        return
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"a predictor runner cannot go from {old.value} to {new.value}")


SETUP_LOG_CHARS = 256 * 1024
"""How much of a setup's logs is kept (the end), in characters."""


@dataclass
class SetupReport:
    """How the predictor's setup went, as ``GET /v1/models/...`` shows it."""

    status: str = "starting"
    """``starting``, ``succeeded`` or ``failed``."""
    started_at: datetime = field(default_factory=times.now)
    completed_at: datetime | None = None
    error: str | None = None
    logs: str = ""
    restarts: int = 0
    """How many times the predictor's process was started again (after a crash or a kill)."""
    health: Health | None = None
    """What the process's last ``healthcheck()`` found; ``Health()`` (healthy, never
    checked) for a predictor without one; None until set up, or once the process has died."""

    def add_logs(self, text: str) -> None:
        self.logs = (self.logs + text)[-SETUP_LOG_CHARS:]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "started_at": times.format_rfc3339(self.started_at),
            "completed_at": times.format_rfc3339(self.completed_at) if self.completed_at else None,
            "error": self.error,
            "logs": self.logs,
            "restarts": self.restarts,
            "health": health_json(self.health),
        }


def health_json(health: Health | None) -> dict[str, Any] | None:
    """``{"status": "healthy"|"unhealthy", "error", "checked_at"}``, or None."""
    if health is None:
        return None
    return {
        "status": "healthy" if health.healthy else "unhealthy",
        "error": health.error,
        "checked_at": times.format_rfc3339(health.checked_at) if health.checked_at else None,
    }
