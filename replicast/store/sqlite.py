"""The embedded store: one SQLite database file in WAL mode."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import orjson

from replicast import private, times
from replicast.disk import disk_full, is_full
from replicast.errors import ConfigError, StoreError
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import migrations, sql
from replicast.store.base import (
    Change,
    Guard,
    PageQuery,
    PredictionRows,
    QueueStats,
    Store,
    WorkerInfo,
)
from replicast.store.health import PROBE_SQL
from replicast.store.sqlite_access import SQLiteAccess, store_error
from replicast.store.sqlite_records import SQLiteRecords
from replicast.store.sqlite_webhooks import SQLiteWebhooks, insert_deliveries
from replicast.webhooks.delivery import Delivery, DeliveryState

T = TypeVar("T")
log = logging.getLogger(__name__)

_COLUMNS = sql.PREDICTION_COLUMNS
_WAL_SIZE_LIMIT = 4 * 1024 * 1024
_UNFINISHED = sql.UNFINISHED
# Through the partial index of the account's unfinished predictions, which the limit
# keeps small, rather than all of its predictions, which SQLite might pick by itself.
_COUNT_UNFINISHED = (
    "SELECT count(*) FROM predictions INDEXED BY predictions_unfinished_by_account"
    f" WHERE account_id = ? AND status IN {_UNFINISHED}"
)


class SQLiteStore(SQLiteWebhooks, SQLiteRecords, Store):
    """State in one SQLite file, reached as ``SQLiteAccess`` describes: predictions here,
    webhook deliveries in ``SQLiteWebhooks``, files, accounts and keys in ``SQLiteRecords``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SQLiteAccess(self._connect, path)
        self._applied: list[str] = []

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
        connection.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
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

    # predictions

    async def insert_prediction(self, prediction: Prediction) -> None:
        statements = sql.insert_prediction(prediction, sql.SQLITE)
        await self._write(lambda c: _run_all(c, statements))

    async def insert_prediction_within(self, prediction: Prediction,
                                       max_unfinished: int) -> int | None:
        statements = sql.insert_prediction(prediction, sql.SQLITE)

        # A write holds SQLite's one write lock from the count to the commit.
        def call(c: sqlite3.Connection) -> int | None:
            (count,) = c.execute(_COUNT_UNFINISHED, (prediction.account_id,)).fetchone()
            if count >= max_unfinished:
                return int(count)
            _run_all(c, statements)
            return None

        return await self._write(call)

    async def unfinished_count(self, account_id: int) -> int:
        row = await self._read(lambda c: c.execute(_COUNT_UNFINISHED, (account_id,)).fetchone())
        return int(row[0])

    async def get_prediction(self, prediction_id: str) -> Prediction | None:
        sql = f"SELECT {_COLUMNS} FROM predictions WHERE id = ?"
        row = await self._read(lambda c: c.execute(sql, (prediction_id,)).fetchone())
        return None if row is None else _prediction(row)

    async def get_prediction_by_stream_token(self, token: str) -> Prediction | None:
        sql = f"SELECT {_COLUMNS} FROM predictions WHERE stream_token = ?"
        row = await self._read(lambda c: c.execute(sql, (token,)).fetchone())
        return None if row is None else _prediction(row)

    async def list_predictions(self, query: PageQuery) -> PredictionRows:
        statement = sql.list_predictions(query, sql.SQLITE)

        # Row by row: SQLite reads no row past the one that fills the page.
        def call(c: sqlite3.Connection) -> tuple[list[Any], bool]:
            fill = sql.PageFill(query)
            rows = []
            for row in c.execute(statement.sql, statement.args):
                if not fill.admit(sql.row_bytes(row)):
                    break
                rows.append(row)
            return rows, fill.more

        rows, more = await self._scan(call)
        page = [_prediction(row) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return PredictionRows(page, more)

    async def update_prediction(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, guard: Guard | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        statement = sql.update_prediction(prediction_id, expected, change, guard, sql.SQLITE)
        cleared = []

        def call(c: sqlite3.Connection) -> Prediction | None:
            row = c.execute(statement.sql, statement.args).fetchone()
            if row is None:
                return None
            updated = _prediction(row)
            if sql.clears_secrets(change, updated):
                _run_all(c, [sql.clear_secrets(prediction_id, sql.SQLITE)])
                updated.secrets = None
                cleared.append(True)
            if deliveries is not None:
                insert_deliveries(c, deliveries(updated))
            return updated

        updated = await self._write(call)
        if cleared:
            self._db.scrub_soon()
        return updated

    async def unfinished_predictions(self) -> list[Prediction]:
        sql = (
            f"SELECT {_COLUMNS} FROM predictions WHERE status IN {_UNFINISHED}"
            " ORDER BY created_at, id"
        )
        rows = await self._scan(lambda c: c.execute(sql).fetchall())
        return [_prediction(row) for row in rows]

    async def run_counts(self) -> dict[str, int]:
        sql = "SELECT model, count(*) FROM predictions GROUP BY model"
        rows = await self._scan(lambda c: c.execute(sql).fetchall())
        return {model: count for model, count in rows}

    # running predictions across processes

    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        if not prediction_ids:
            return 0
        query = ("UPDATE predictions SET lease_until = ? WHERE worker_id = ?"
                 f" AND status = 'processing' AND id IN ({', '.join('?' * len(prediction_ids))})")
        args = (times.format_rfc3339(until), worker_id, *prediction_ids)
        return int(await self._write(lambda c: c.execute(query, args).rowcount))

    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        query = (f"SELECT {_COLUMNS} FROM predictions WHERE status = 'processing'"
                 " AND lease_until < ? ORDER BY lease_until LIMIT ?")
        args = (times.format_rfc3339(now), limit)
        rows = await self._scan(lambda c: c.execute(query, args).fetchall())
        return [_prediction(row) for row in rows]

    async def waiting(self, models: Sequence[str], created_before: datetime,
                      limit: int) -> list[tuple[str, str]]:
        if not models:
            return []
        query = ("SELECT id, model FROM predictions WHERE status = 'starting'"
                 f" AND model IN ({', '.join('?' * len(models))}) AND created_at < ?"
                 " ORDER BY created_at, id LIMIT ?")
        args = (*models, times.format_rfc3339(created_before), limit)
        rows = await self._scan(lambda c: c.execute(query, args).fetchall())
        return [(row[0], row[1]) for row in rows]

    async def waiting_models(self, limit: int) -> list[str]:
        query = "SELECT DISTINCT model FROM predictions WHERE status = 'starting' LIMIT ?"
        rows = await self._scan(lambda c: c.execute(query, (limit,)).fetchall())
        return [row[0] for row in rows]

    async def overdue(self, now: datetime, limit: int) -> list[str]:
        query = (f"SELECT id FROM predictions WHERE deadline IS NOT NULL AND deadline <= ?"
                 f" AND status IN {_UNFINISHED} ORDER BY deadline LIMIT ?")
        args = (times.format_rfc3339(now), limit)
        rows = await self._scan(lambda c: c.execute(query, args).fetchall())
        return [row[0] for row in rows]

    async def record_worker(self, worker: WorkerInfo) -> None:
        query = ("INSERT INTO workers (id, host, pid, models, started_at, heartbeat_at)"
                 " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
                 " SET heartbeat_at = excluded.heartbeat_at, models = excluded.models")
        args = (worker.id, worker.host, worker.pid, sql.json_text(list(worker.models)),
                times.format_rfc3339(worker.started_at),
                times.format_rfc3339(worker.heartbeat_at))
        await self._write(lambda c: c.execute(query, args).rowcount)

    async def remove_worker(self, worker_id: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM workers WHERE id = ?",
                                              (worker_id,)).rowcount)

    async def workers(self) -> list[WorkerInfo]:
        query = ("SELECT id, host, pid, models, started_at, heartbeat_at FROM workers"
                 " ORDER BY started_at, id")
        rows = await self._scan(lambda c: c.execute(query).fetchall())
        return [WorkerInfo(row[0], row[1], row[2], tuple(orjson.loads(row[3])),
                           times.parse_rfc3339(row[4]), times.parse_rfc3339(row[5]))
                for row in rows]

    # what operators see

    async def status_counts(self) -> dict[tuple[str, str], int]:
        query = "SELECT model, status, count(*) FROM predictions GROUP BY model, status"
        rows = await self._scan(lambda c: c.execute(query).fetchall())
        return {(row[0], row[1]): row[2] for row in rows}

    async def queue_stats(self) -> list[QueueStats]:
        query = ("SELECT model, count(*), min(created_at) FROM predictions"
                 " WHERE status = 'starting' GROUP BY model ORDER BY model")
        rows = await self._scan(lambda c: c.execute(query).fetchall())
        return [QueueStats(row[0], row[1], _parse_ts(row[2])) for row in rows]

    async def webhook_backlog(self) -> dict[str, int]:
        query = "SELECT state, count(*) FROM webhook_deliveries GROUP BY state"
        rows = await self._scan(lambda c: c.execute(query).fetchall())
        return {row[0]: row[1] for row in rows}

    async def ping(self) -> None:
        await self._read(lambda c: c.execute("SELECT 1").fetchone())
        health = self._db.health
        if health.writes_refused and health.problem is not None:
            if not health.has_room():
                raise health.problem
            await self._write(lambda c: c.execute(PROBE_SQL).rowcount)  # writes again?

    # retention

    async def retained(self, completed_before: datetime, limit: int) -> list[str]:
        def call(c: sqlite3.Connection) -> list[str]:
            return [row[0] for row in c.execute(
                "SELECT id FROM predictions WHERE data_removed = 0 AND source = 'api'"
                " AND completed_at IS NOT NULL AND completed_at < ?"
                " ORDER BY completed_at LIMIT ?", (_ts(completed_before), limit))]

        return await self._read(call)

    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        if not prediction_ids:
            return 0
        marks = ", ".join("?" * len(prediction_ids))
        finished = _ts(times.now())

        def call(c: sqlite3.Connection) -> int:
            changed = c.execute(
                "UPDATE predictions SET input = '{}', output = 'null', logs = '',"
                f" data_removed = 1 WHERE id IN ({marks}) AND data_removed = 0",
                tuple(prediction_ids)).rowcount
            c.execute(f"DELETE FROM prediction_inputs WHERE prediction_id IN ({marks})",
                      tuple(prediction_ids))
            c.execute(
                "UPDATE webhook_deliveries SET payload = '', state = CASE state WHEN ?"
                " THEN ? ELSE state END, next_attempt_at = NULL,"
                f" finished_at = coalesce(finished_at, ?) WHERE prediction_id IN ({marks})",
                (DeliveryState.PENDING.value, DeliveryState.FAILED.value, finished,
                 *prediction_ids))
            return int(changed)

        changed = await self._write(call)
        if changed:
            self._db.scrub_soon()
        return changed


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


def _run_all(connection: sqlite3.Connection, statements: list[sql.Statement]) -> None:
    for statement in statements:
        connection.execute(statement.sql, statement.args)


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
    """Split a migration into statements (our migrations hold no ';' in literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _ts(value: datetime | None) -> str | None:
    return None if value is None else times.format_rfc3339(value)


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else times.parse_rfc3339(value)


def _prediction(row: tuple[Any, ...]) -> Prediction:
    return sql.prediction_from_row(row, sql.SQLITE)


