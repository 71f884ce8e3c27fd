"""The embedded store: one SQLite database file in WAL mode, and its repositories."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import unquote

from replicast import private, times
from replicast.disk import disk_full, is_full
from replicast.errors import ConfigError, StoreError
from replicast.store import migrations
from replicast.store.base import Store
from replicast.store.health import PROBE_SQL
from replicast.store.sqlite.access import WAL_SIZE_LIMIT, SQLiteAccess, store_error
from replicast.store.sqlite.accounts import SQLiteAccounts
from replicast.store.sqlite.files import SQLiteFiles
from replicast.store.sqlite.outbox import SQLiteOutbox
from replicast.store.sqlite.predictions import SQLitePredictions
from replicast.store.sqlite.runs import SQLiteRuns
from replicast.store.sqlite.sessions import SQLiteSessions

log = logging.getLogger("replicast.store.sqlite")

class SQLiteStore(Store):
    """State in one SQLite file, reached as ``SQLiteAccess`` describes; each repository
    is a module of this folder, all on the same access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SQLiteAccess(self._connect, path)
        self._applied: list[str] = []
        self.predictions = SQLitePredictions(self._db)
        self.runs = SQLiteRuns(self._db)
        self.outbox = SQLiteOutbox(self._db)
        self.files = SQLiteFiles(self._db)
        self.accounts = SQLiteAccounts(self._db)
        self.sessions = SQLiteSessions(self._db)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        prefix = "sqlite:///"
        if not url.lower().startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(f"REPLICAST_DATABASE_URL: expected sqlite:///path, got {url!r}")
        return cls(Path(unquote(url[len(prefix):])))

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash can lose
        # the last commits.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        # Removed data (retention, deleted files) is overwritten, not left in free pages.
        connection.execute("PRAGMA secure_delete=ON")
        # When the WAL starts over, the file is cut back to this: a burst that grew it
        # keeps neither the space nor the old pages in it.
        connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        # No connection checkpoints as it commits (by default past 1000 pages of WAL, on
        # the writer thread, holding up the writes queued behind it): the checkpointer
        # thread does, as SQLiteAccess says.
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    async def open(self) -> None:
        try:
            _make_private(self.path)
            await self._db.open(lambda c: self._applied.extend(_migrate(c)))
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc
        except OSError as exc:
            if is_full(exc):
                raise disk_full(self.path.parent, f"cannot open the database ({exc})") from exc
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc

    async def close(self) -> None:
        await self._db.close()

    async def upgrade(self) -> list[str]:
        await self.open()  # opening migrates
        return list(self._applied)

    async def ping(self) -> None:
        await self._db.read(lambda c: c.execute("SELECT 1").fetchone())
        health = self._db.health
        if health.writes_refused and health.problem is not None:
            if not health.has_room():
                raise health.problem
            await self._db.write(lambda c: c.execute(PROBE_SQL).rowcount)  # writes again?


def _make_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its WAL and index take the
    database's mode), and tighten the files of an earlier version."""
    private.make_folders(path.parent)
    private.create_file(path)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        was = private.tighten(path.with_name(name))
        if was is not None:
            log.warning("made %s private to this user (mode 600, was %o)",
                        path.with_name(name), was)


def _migrate(connection: sqlite3.Connection) -> list[str]:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    known = migrations.load("sqlite")
    applied: list[str] = []
    if done - {m.version for m in known}:
        raise StoreError("the database was written by a newer Replicast; upgrade Replicast")
    for migration in known:
        if migration.version in done:
            continue
        for statement in _statements(migration.sql):
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, times.format_rfc3339(times.now())),
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration into statements, a trigger's body (``BEGIN ... END;``) kept whole."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        pending += line + "\n"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise StoreError(f"a migration ends in an unfinished statement: {pending.strip()[:80]}")
    return statements
