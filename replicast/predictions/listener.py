"""What hears of the changes ``Lifecycle`` makes: one interface for every side effect.

As dramatiq's middleware: a listener is given to ``Lifecycle`` when it is built, and
implements the hooks it needs (each has a default that does nothing). The webhook
emitter (the outbox), the metrics and the withdrawal of handed-on predictions are the
listeners; ``app.py`` wires them. Hooks are called on the event loop in the order the
listeners were given, and must not block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from replicast.predictions.prediction import Prediction

if TYPE_CHECKING:
    from replicast.webhooks.delivery import Delivery


class LifecycleListener(Protocol):
    """Hooks on a prediction's changes; subclass it and override what you need."""

    def deliveries(self, prediction: Prediction) -> Sequence[Delivery]:
        """Inside a status change's transaction: the webhook deliveries to commit with it
        (so that a crash cannot lose them)."""
        return ()

    def delivers(self, prediction: Prediction) -> bool:
        """Whether ``deliveries`` may give any for a status change of ``prediction``,
        judged from a copy that may be stale (what decides must be fixed at its create).
        When no listener may, the change commits without asking (in one statement on
        SQLite). A listener with deliveries of its own overrides this to say which
        predictions never get any (the webhook emitter: those without a webhook)."""
        return True

    def status_changed(self, prediction: Prediction) -> None:
        """After a status change was committed and announced."""
        return None

    def progressed(self, prediction: Prediction, *, output: bool, logs: bool) -> None:
        """After a running prediction's new output (``output``) or logs (``logs``) were
        written."""
        return None

    def ended_here(self, prediction: Prediction) -> None:
        """After a prediction failed, was canceled or aborted other than by its run (a
        cancel, a deadline, a recovery), which would have told whatever it handed the
        prediction to."""
        return None
