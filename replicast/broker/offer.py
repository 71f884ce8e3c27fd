"""A new prediction offered straight to a worker waiting for its model's queue, to start
in the transaction that creates it.

A synchronous create that finds a consumer of the model idle (a slot claimed, waiting for
the model's in-process queue, which is empty then) hands it the prediction before anything
is committed, through the in-process broker (``Broker.offer``; a Redis broker never
offers). The consumer commits it already started, claimed by its worker
(``Lifecycle.begin``): one transaction where a queued prediction takes two, its create's
and its start's, and no queue in between. The create learns from ``outcome`` how that
went: the started prediction, the error its commit raised (the create's own error then,
as if it had committed it itself), or None when the consumer could not take it after all
(stopped, or its model paused, before it woke), and the create commits and queues it as
usual. A consumer stopped while it commits lets the commit finish, and the create learns
how it went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from replicast.predictions.prediction import Prediction
from replicast.webhooks.delivery import Delivery

Insert = Callable[[Prediction, Sequence[Delivery]], Awaitable[None]]
"""Commits a new prediction with the deliveries of its status (the create's own insert:
its account's limit on unfinished predictions holds)."""
Validated = tuple[dict[str, Any], list[str]]
"""An input as a model's validator gives it: the values, defaults filled, and the names
the model does not know."""


@dataclass(eq=False)
class Offer:
    """A prediction not committed yet, for one consumer to start."""

    prediction: Prediction
    insert: Insert
    validated: Validated | None = None
    """Its input as the model's validator gave it at the create: the consumer need not
    check it again."""
    outcome: asyncio.Future[Prediction | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def accept(self, started: Prediction) -> None:
        """Committed, started: the create goes on to wait for its end."""
        if not self.outcome.done():
            self.outcome.set_result(started)

    def fail(self, error: BaseException) -> None:
        """Its commit raised ``error``, which the create raises."""
        if not self.outcome.done():
            self.outcome.set_exception(error)

    def decline(self) -> None:
        """Not taken after all: the create commits and queues the prediction itself."""
        if not self.outcome.done():
            self.outcome.set_result(None)
