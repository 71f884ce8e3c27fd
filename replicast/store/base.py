"""The store: the durable truth, one repository per aggregate.

``Store`` opens, closes, upgrades and pings the database; what is kept is reached
through its repositories, each a small interface in a module of its own name
(``predictions.py``, ``runs.py``, ``outbox.py``, ``files.py``, ``accounts.py``,
``sessions.py``), and each backend (``sqlite/``, ``postgres/``) has a module of the
same name for each. ``replicast.store.open_store`` picks a backend by URL.
"""

from __future__ import annotations

import abc

from replicast.store.accounts import AccountStore
from replicast.store.files import FileStore
from replicast.store.outbox import OutboxStore
from replicast.store.predictions import PredictionStore
from replicast.store.runs import RunStore
from replicast.store.sessions import SessionStore


class Store(abc.ABC):
    """Durable state: the database's connections and its repositories."""

    shared: bool = False
    """Whether other processes (API replicas, workers) may use the same store at once.
    A store that is not shared belongs to one process, which may take over at start
    everything left unfinished."""

    predictions: PredictionStore
    """Predictions: their rows, changes (compare-and-set), pages, counts and retention."""
    runs: RunStore
    """Predictions on their way through workers: waiting, overdue, leased; the workers."""
    outbox: OutboxStore
    """Webhook deliveries and their attempts."""
    files: FileStore
    """Uploaded files' records."""
    accounts: AccountStore
    """Accounts and their API keys."""
    sessions: SessionStore
    """Web sessions and the server's secrets."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release connections."""

    @abc.abstractmethod
    async def upgrade(self) -> list[str]:
        """Connect if need be and apply the migrations the database lacks; their names."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
