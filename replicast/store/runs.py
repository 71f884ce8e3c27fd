"""The runs repository: predictions on their way through workers, across processes.

What waits to start, what is overdue or unfinished, the leases of running predictions,
and the workers that hold them.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from replicast.predictions.prediction import Prediction


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process, as it reports itself."""

    id: str
    host: str
    pid: int
    models: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The predictions of one model waiting to start."""

    model: str
    waiting: int
    oldest_created_at: datetime | None


class RunStore(abc.ABC):
    """Running predictions across processes. Every method is safe to call from the
    event loop."""

    @abc.abstractmethod
    async def list_unfinished(self) -> list[Prediction]:
        """Every prediction not in a terminal status, oldest first."""

    @abc.abstractmethod
    async def list_waiting(self, models: Sequence[str], created_before: datetime,
                           limit: int) -> list[tuple[str, str]]:
        """``(id, model)`` of predictions of ``models`` still ``starting`` that were
        created before the instant, oldest first."""

    @abc.abstractmethod
    async def waiting_models(self, limit: int) -> list[str]:
        """The models, at most ``limit``, that have predictions still ``starting`` (for
        workers to find routed models they do not serve yet)."""

    @abc.abstractmethod
    async def list_overdue(self, now: datetime, limit: int) -> list[str]:
        """Ids of unfinished predictions whose deadline has passed."""

    @abc.abstractmethod
    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        """Extend the leases of these predictions, of those this worker still runs; how
        many that is."""

    @abc.abstractmethod
    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        """Running predictions whose lease ran out before ``now``, oldest first."""

    @abc.abstractmethod
    async def record_worker(self, worker: WorkerInfo) -> None:
        """Add or refresh a worker's entry (its heartbeat)."""

    @abc.abstractmethod
    async def remove_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped."""

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerInfo]:
        """Every worker that has reported itself and not stopped."""

    @abc.abstractmethod
    async def queue_stats(self) -> list[QueueStats]:
        """Per model, the predictions waiting to start and the oldest one's age."""
