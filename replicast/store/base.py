"""The store: the durable truth about predictions, accounts and API keys.

Backends implement ``Store``; ``replicast.store.open_store`` picks one by URL. Status changes are
compare-and-set: ``update_prediction`` applies a change only while the prediction
is in one of the expected statuses, so two writers racing cannot both win.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

from replicast.accounts.account import Account, ApiKey
from replicast.files.file import StoredFile
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState


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


@dataclass(frozen=True, slots=True)
class WebSession:
    """A web page sign-in, kept server-side: its cookie holds only a random id."""

    id_hash: str
    """SHA-256 of the cookie's random id: the id itself is never stored."""
    key_digest: str
    """The digest of the API token that signed in: it names the key."""
    created_at: datetime
    expires_at: datetime


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
    """What ``list_predictions`` found: a page, newest first, and whether more predictions
    lie beyond it in the direction it was read."""

    predictions: list[Prediction]
    more: bool


@dataclass(frozen=True, slots=True)
class FilePageQuery:
    """A page of one account's uploaded files that have not expired, newest first."""

    account_id: int
    limit: int
    now: datetime
    """Files that expired at or before this instant are left out."""
    before: tuple[datetime, str] | None = None
    """Only files older than this (created_at, id) position."""
    after: tuple[datetime, str] | None = None
    """Only files newer than this position (the page just before it)."""


class Store(abc.ABC):
    """Durable state. Every method is safe to call from the event loop."""

    shared: bool = False
    """Whether other processes (API replicas, workers) may use the same store at once.
    A store that is not shared belongs to one process, which may take over at start
    everything left unfinished."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release connections."""

    @abc.abstractmethod
    async def upgrade(self) -> list[str]:
        """Connect if need be and apply the migrations the database lacks; their names."""

    # predictions

    @abc.abstractmethod
    async def insert_prediction(self, prediction: Prediction) -> None:
        """Commit a new prediction."""

    @abc.abstractmethod
    async def insert_prediction_within(self, prediction: Prediction,
                                       max_unfinished: int) -> int | None:
        """Commit a new prediction only if its account has fewer than ``max_unfinished``
        predictions starting or processing: None once committed, else how many it has.

        The count and the insert are one atomic step, across processes too, so creates
        racing each other cannot pass the limit together.
        """

    @abc.abstractmethod
    async def unfinished_count(self, account_id: int) -> int:
        """How many of the account's predictions are starting or processing."""

    @abc.abstractmethod
    async def get_prediction(self, prediction_id: str) -> Prediction | None:
        """The prediction with this id, or None."""

    @abc.abstractmethod
    async def get_prediction_by_stream_token(self, token: str) -> Prediction | None:
        """The prediction whose event stream has this secret token, or None."""

    @abc.abstractmethod
    async def list_predictions(self, query: PageQuery) -> PredictionRows:
        """One page of predictions, newest first, read from the query's cursor."""

    @abc.abstractmethod
    async def update_prediction(
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
    async def unfinished_predictions(self) -> list[Prediction]:
        """Every prediction not in a terminal status, oldest first."""

    @abc.abstractmethod
    async def run_counts(self) -> dict[str, int]:
        """How many predictions each model has, by ``owner/name``."""

    # running predictions across processes

    @abc.abstractmethod
    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        """Extend the leases of these predictions, of those this worker still runs; how
        many that is."""

    @abc.abstractmethod
    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        """Running predictions whose lease ran out before ``now``, oldest first."""

    @abc.abstractmethod
    async def waiting(self, models: Sequence[str], created_before: datetime,
                      limit: int) -> list[tuple[str, str]]:
        """``(id, model)`` of predictions of ``models`` still ``starting`` that were
        created before the instant, oldest first."""

    @abc.abstractmethod
    async def waiting_models(self, limit: int) -> list[str]:
        """The models, at most ``limit``, that have predictions still ``starting`` (for
        workers to find routed models they do not serve yet)."""

    @abc.abstractmethod
    async def overdue(self, now: datetime, limit: int) -> list[str]:
        """Ids of unfinished predictions whose deadline has passed."""

    @abc.abstractmethod
    async def record_worker(self, worker: WorkerInfo) -> None:
        """Add or refresh a worker's entry (its heartbeat)."""

    @abc.abstractmethod
    async def remove_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped."""

    @abc.abstractmethod
    async def workers(self) -> list[WorkerInfo]:
        """Every worker that has reported itself and not stopped."""

    # what operators see

    @abc.abstractmethod
    async def status_counts(self) -> dict[tuple[str, str], int]:
        """How many predictions each (model, status) has."""

    @abc.abstractmethod
    async def queue_stats(self) -> list[QueueStats]:
        """Per model, the predictions waiting to start and the oldest one's age."""

    @abc.abstractmethod
    async def webhook_backlog(self) -> dict[str, int]:
        """How many webhook deliveries are in each state (pending, delivered, failed)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""

    # webhooks

    @abc.abstractmethod
    async def insert_deliveries(self, deliveries: Sequence[Delivery], *,
                                while_running: str | None = None) -> bool:
        """Add deliveries to the outbox; with ``while_running``, only if that prediction
        is still processing. Whether they were added."""

    @abc.abstractmethod
    async def claim_deliveries(self, now: datetime, lease_until: datetime, limit: int,
                               claimant: str | None = None) -> list[Delivery]:
        """Take up to ``limit`` due deliveries, each the oldest pending one of its
        prediction, until ``lease_until`` (then they fall due again), for ``claimant``."""

    @abc.abstractmethod
    async def release_claims(self, now: datetime, claimant: str | None = None) -> int:
        """Make the pending deliveries claimed by ``claimant`` (by anyone, if None) due at
        ``now``: their attempts were abandoned. How many there were."""

    @abc.abstractmethod
    async def next_delivery_due(self) -> datetime | None:
        """When the earliest pending delivery falls due, or None if none is pending."""

    @abc.abstractmethod
    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *,
                             state: DeliveryState, next_attempt_at: datetime | None) -> None:
        """Record an attempt and what comes next: done, given up, or a retry at a time."""

    @abc.abstractmethod
    async def deliveries(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        """A prediction's deliveries, oldest first, each with its attempts."""

    @abc.abstractmethod
    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        """The account's webhook signing secret; ``proposed`` becomes it if it has none."""

    @abc.abstractmethod
    async def server_secret(self, name: str, proposed: str) -> str:
        """The server's secret called ``name``; ``proposed`` becomes it if there is none."""

    async def server_key(self, name: str) -> str:
        """The server's signing key called ``name``, made now if there is none yet."""
        return await self.server_secret(name, secrets.token_urlsafe(32))

    # retention

    @abc.abstractmethod
    async def retained(self, completed_before: datetime, limit: int) -> list[str]:
        """API predictions that finished before this and still hold their data, oldest first."""

    @abc.abstractmethod
    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        """Drop the input (secrets too), output and logs of these predictions and set
        ``data_removed``.

        Their webhook payloads go too; a delivery still pending is given up. The count
        of predictions changed.
        """

    # uploaded files

    @abc.abstractmethod
    async def insert_file(self, file: StoredFile) -> None:
        """Commit a new uploaded file's record."""

    @abc.abstractmethod
    async def get_file(self, account_id: int, file_id: str) -> StoredFile | None:
        """The account's file with this id, expired or not; None if it has none."""

    @abc.abstractmethod
    async def get_file_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        """The file with this id of the account with this username, or None."""

    @abc.abstractmethod
    async def list_files(self, query: FilePageQuery) -> list[StoredFile]:
        """One page of an account's files, newest first."""

    @abc.abstractmethod
    async def delete_file(self, account_id: int, file_id: str) -> bool:
        """Forget the account's file; False if it has no such file."""

    @abc.abstractmethod
    async def files_bytes(self, account_id: int, now: datetime) -> int:
        """The size of the account's files that have not expired by ``now``, in bytes."""

    @abc.abstractmethod
    async def expired_files(self, now: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` files that expired at or before ``now``, first expired
        first."""

    @abc.abstractmethod
    async def delete_files(self, file_ids: Sequence[str]) -> int:
        """Forget these files, whoever owns them; how many there were."""

    @abc.abstractmethod
    async def present_files(self, file_ids: Sequence[str]) -> set[str]:
        """Those of ``file_ids`` that have a record, expired or not."""

    # accounts and keys

    @abc.abstractmethod
    async def ensure_account(self, username: str) -> Account:
        """The account with this username, created if missing."""

    @abc.abstractmethod
    async def insert_key(self, key: ApiKey) -> None:
        """Store a new API key."""

    @abc.abstractmethod
    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        """The unrevoked key with this digest and its account, or None."""

    @abc.abstractmethod
    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        """Every key, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False if no unrevoked key has this id."""

    @abc.abstractmethod
    async def revocations(self) -> tuple[int, str | None]:
        """Something that changes whenever a key is revoked, by any process."""

    # web sessions

    @abc.abstractmethod
    async def insert_web_session(self, session: WebSession) -> None:
        """Keep a new web session, removing those that ended before it began."""

    @abc.abstractmethod
    async def get_web_session(self, id_hash: str, now: datetime) -> WebSession | None:
        """The session with this id hash, unless it has ended by ``now``."""

    @abc.abstractmethod
    async def delete_web_session(self, id_hash: str) -> None:
        """End a session (signing out); nothing if there is none."""
