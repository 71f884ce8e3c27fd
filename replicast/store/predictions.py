"""The predictions repository: each prediction's row, its changes compare-and-set, its
pages, what operators count, and retention's removals.

A status change is compare-and-set: ``update`` applies a change only while the
prediction is in one of the expected statuses, so two writers racing cannot both win.
The webhook deliveries that report a change are committed in the change's transaction
(``deliveries=``): the outbox.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.webhooks.delivery import Delivery


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Marks a field that a ``Change`` leaves as it is."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one update does to a prediction; UNSET fields stay as they are."""

    status: Status | None = None
    started_at: datetime | _Unset | None = UNSET
    completed_at: datetime | _Unset | None = UNSET
    output: Any = UNSET
    error: str | _Unset | None = UNSET
    logs: str | _Unset = UNSET
    """Replaces the logs; ``append_logs`` is applied after it."""
    append_logs: str = ""
    metrics: dict[str, Any] | _Unset = UNSET
    next_attempt: bool = False
    """Count one more run (``attempt + 1``)."""
    worker_id: str | _Unset | None = UNSET
    lease_until: datetime | _Unset | None = UNSET
    """A terminal status clears the worker, the lease and the secrets by itself."""
    upstream_id: str | _Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class Guard:
    """Further conditions on an update, besides the expected status."""

    deadline_after: datetime | None = None
    """Only if the prediction has no deadline, or one later than this."""
    worker_id: str | None = None
    """Only if this worker runs it: a worker whose claim lapsed must not write."""
    attempt: int | None = None
    """Only if this is still its run of that number: a worker given the prediction again
    (after its claim lapsed) must not write what its earlier run left over."""
    lease_expired_before: datetime | None = None
    """Only if its lease ran out before this instant."""


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A page of one account's predictions, newest first."""

    account_id: int
    limit: int
    """At most this many predictions."""
    max_bytes: int = 0
    """Stop before the prediction that would take the page's stored input, output and logs
    past this many bytes, though never before the first; 0 for no such bound."""
    before: tuple[datetime, str] | None = None
    """Only predictions older than this (created_at, id) position."""
    after: tuple[datetime, str] | None = None
    """Only predictions newer than this position (the page just before it)."""
    created_after: datetime | None = None
    """Inclusive lower bound on created_at."""
    created_before: datetime | None = None
    """Exclusive upper bound on created_at."""
    source: str | None = None


@dataclass(frozen=True, slots=True)
class PredictionRows:
    """What ``PredictionStore.page`` found: a page, newest first, and whether more
    predictions lie beyond it in the direction it was read."""

    predictions: list[Prediction]
    more: bool


class PredictionStore(abc.ABC):
    """Predictions, durably. Every method is safe to call from the event loop."""

    @abc.abstractmethod
    async def insert(self, prediction: Prediction, deliveries: Sequence[Delivery] = ()) -> None:
        """Commit a new prediction, with the webhook deliveries of its status (one started
        at once: ``Lifecycle.begin``)."""

    @abc.abstractmethod
    async def insert_within(self, prediction: Prediction, max_unfinished: int,
                            deliveries: Sequence[Delivery] = ()) -> int | None:
        """Commit a new prediction (and ``deliveries``, as ``insert``) only if its account
        has fewer than ``max_unfinished`` predictions starting or processing: None once
        committed, else how many it has.

        The count and the insert are one atomic step, across processes too, so creates
        racing each other cannot pass the limit together.
        """

    @abc.abstractmethod
    async def unfinished_count(self, account_id: int) -> int:
        """How many of the account's predictions are starting or processing."""

    @abc.abstractmethod
    async def get(self, prediction_id: str) -> Prediction | None:
        """The prediction with this id, or None."""

    @abc.abstractmethod
    async def get_by_stream_token(self, token: str) -> Prediction | None:
        """The prediction whose event stream has this secret token, or None."""

    @abc.abstractmethod
    async def waiting_ahead(self, prediction: Prediction) -> int:
        """How many predictions of its model wait to start (``starting``) that were
        created before it."""

    @abc.abstractmethod
    async def recent_run_seconds(self, model: str, limit: int) -> list[float]:
        """How long the model's latest ``limit`` successful runs took, latest first."""

    @abc.abstractmethod
    async def page(self, query: PageQuery) -> PredictionRows:
        """One page of predictions, newest first, read from the query's cursor."""

    @abc.abstractmethod
    async def update(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, guard: Guard | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        """Apply ``change`` if the status is in ``expected`` (and ``guard`` holds); the
        result, or None.

        ``deliveries`` makes the webhook deliveries for the changed prediction; they
        are committed in the same transaction as the change.
        """

    @abc.abstractmethod
    async def run_counts(self) -> dict[str, int]:
        """How many predictions each model has, by ``owner/name``."""

    @abc.abstractmethod
    async def status_counts(self) -> dict[tuple[str, str], int]:
        """How many predictions each (model, status) has."""

    @abc.abstractmethod
    async def list_retained(self, completed_before: datetime, limit: int) -> list[str]:
        """API predictions that finished before this and still hold their data, oldest first."""

    @abc.abstractmethod
    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        """Drop the input (secrets too), output and logs of these predictions and set
        ``data_removed``.

        Their webhook payloads go too; a delivery still pending is given up. The count
        of predictions changed.
        """
