"""The embedded store: one SQLite database file in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import orjson

from replicast import times
from replicast.accounts import Account, ApiKey
from replicast.errors import ConfigError, StoreError
from replicast.files.file import StoredFile
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import migrations, sql
from replicast.store.base import (
    Change,
    FilePageQuery,
    Guard,
    PageQuery,
    QueueStats,
    Store,
    WebSession,
    WorkerInfo,
)
from replicast.store.sqlite_access import SQLiteAccess
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

T = TypeVar("T")

_COLUMNS = sql.PREDICTION_COLUMNS
_UNFINISHED = sql.UNFINISHED
# Through the partial index of the account's unfinished predictions, which the limit
# keeps small, rather than all of its predictions, which SQLite might pick by itself.
_COUNT_UNFINISHED = (
    "SELECT count(*) FROM predictions INDEXED BY predictions_unfinished_by_account"
    f" WHERE account_id = ? AND status IN {_UNFINISHED}"
)


class SQLiteStore(Store):
    """State in one SQLite file, reached as ``SQLiteAccess`` describes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SQLiteAccess(self._connect)
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
        return connection

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await self._db.open(lambda c: self._applied.extend(_migrate(c)))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc

    async def close(self) -> None:
        await self._db.close()

    async def upgrade(self) -> list[str]:
        await self.open()  # opening migrates
        return list(self._applied)

    async def _write(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.write(call)

    async def _read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.read(call)

    async def _scan(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.scan(call)

    # predictions

    async def insert_prediction(self, prediction: Prediction) -> None:
        statement = sql.insert_prediction(prediction, sql.SQLITE)
        await self._write(lambda c: c.execute(statement.sql, statement.args).rowcount)

    async def insert_prediction_within(self, prediction: Prediction,
                                       max_unfinished: int) -> int | None:
        statement = sql.insert_prediction(prediction, sql.SQLITE)

        # A write holds SQLite's one write lock from the count to the commit.
        def call(c: sqlite3.Connection) -> int | None:
            (count,) = c.execute(_COUNT_UNFINISHED, (prediction.account_id,)).fetchone()
            if count >= max_unfinished:
                return int(count)
            c.execute(statement.sql, statement.args)
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

    async def list_predictions(self, query: PageQuery) -> list[Prediction]:
        statement = sql.list_predictions(query, sql.SQLITE)
        rows = await self._scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        page = [_prediction(row) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return page

    async def update_prediction(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, guard: Guard | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        statement = sql.update_prediction(prediction_id, expected, change, guard, sql.SQLITE)

        def call(c: sqlite3.Connection) -> Prediction | None:
            row = c.execute(statement.sql, statement.args).fetchone()
            if row is None:
                return None
            updated = _prediction(row)
            if deliveries is not None:
                _insert_deliveries(c, deliveries(updated))
            return updated

        return await self._write(call)

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

    async def renew_leases(self, worker_id: str, until: datetime) -> int:
        query = ("UPDATE predictions SET lease_until = ? WHERE worker_id = ?"
                 " AND status = 'processing'")
        args = (times.format_rfc3339(until), worker_id)
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
        try:
            await self._read(lambda c: c.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            raise StoreError(f"the database does not answer: {exc}") from exc

    # webhooks

    async def insert_deliveries(self, deliveries: Sequence[Delivery], *,
                                while_running: str | None = None) -> bool:
        def call(c: sqlite3.Connection) -> bool:
            if while_running is not None and c.execute(
                "SELECT 1 FROM predictions WHERE id = ? AND status = 'processing'",
                (while_running,),
            ).fetchone() is None:
                return False
            _insert_deliveries(c, deliveries)
            return True

        return await self._write(call)

    async def claim_deliveries(self, now: datetime, lease_until: datetime,
                               limit: int) -> list[Delivery]:
        sql = (
            f"UPDATE webhook_deliveries SET next_attempt_at = ? WHERE seq IN ("
            " SELECT d.seq FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND {_FIRST_OF_ITS_PREDICTION}"
            f" ORDER BY d.next_attempt_at LIMIT ?) RETURNING {_DELIVERY_COLUMNS}"
        )
        args = (times.format_rfc3339(lease_until), times.format_rfc3339(now), limit)
        rows = await self._write(lambda c: c.execute(sql, args).fetchall())
        return sorted((_delivery(row) for row in rows), key=lambda d: d.seq)

    async def next_delivery_due(self) -> datetime | None:
        sql = ("SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
               f" WHERE d.state = 'pending' AND {_FIRST_OF_ITS_PREDICTION}")
        row = await self._read(lambda c: c.execute(sql).fetchone())
        return _parse_ts(row[0])

    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *,
                             state: DeliveryState, next_attempt_at: datetime | None) -> None:
        finished = None if state is DeliveryState.PENDING else attempt.started_at

        def call(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO webhook_attempts (delivery_seq, number, started_at, duration_ms,"
                " status_code, error) VALUES (?, ?, ?, ?, ?, ?)",
                (delivery.seq, attempt.number, times.format_rfc3339(attempt.started_at),
                 attempt.duration_ms, attempt.status_code, attempt.error),
            )
            c.execute(
                # Only while pending: a delivery given up meanwhile (its prediction's
                # data was removed) stays given up.
                "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,"
                " finished_at = ? WHERE seq = ? AND state = 'pending'",
                (state.value, attempt.number, _ts(next_attempt_at), _ts(finished),
                 delivery.seq),
            )

        await self._write(call)

    async def deliveries(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        def call(c: sqlite3.Connection) -> list[tuple[Delivery, list[Attempt]]]:
            found = [_delivery(row) for row in c.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE prediction_id = ?"
                " ORDER BY seq", (prediction_id,))]
            return [(d, [_attempt(row) for row in c.execute(
                "SELECT number, started_at, duration_ms, status_code, error"
                " FROM webhook_attempts WHERE delivery_seq = ? ORDER BY number", (d.seq,))])
                for d in found]

        return await self._scan(call)

    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        def call(c: sqlite3.Connection) -> str:
            c.execute("UPDATE accounts SET webhook_secret = ? WHERE id = ?"
                      " AND webhook_secret IS NULL", (proposed, account_id))
            row = c.execute("SELECT webhook_secret FROM accounts WHERE id = ?",
                            (account_id,)).fetchone()
            if row is None:
                raise StoreError(f"no account {account_id}")
            return str(row[0])

        return await self._write(call)

    async def server_secret(self, name: str, proposed: str) -> str:
        def call(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)"
                      " ON CONFLICT (name) DO NOTHING", (name, proposed))
            row = c.execute("SELECT value FROM server_secrets WHERE name = ?",
                            (name,)).fetchone()
            return str(row[0])

        return await self._write(call)

    # web sessions

    async def insert_web_session(self, session: WebSession) -> None:
        created, expires = (times.format_rfc3339(t)
                            for t in (session.created_at, session.expires_at))

        def call(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (created,))
            c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at, expires_at)"
                      " VALUES (?, ?, ?, ?)", (session.id_hash, session.key_digest,
                                               created, expires))

        await self._write(call)

    async def get_web_session(self, id_hash: str, now: datetime) -> WebSession | None:
        query = ("SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
                 " WHERE id_hash = ? AND expires_at > ?")
        args = (id_hash, times.format_rfc3339(now))
        row = await self._read(lambda c: c.execute(query, args).fetchone())
        if row is None:
            return None
        return WebSession(row[0], row[1], times.parse_rfc3339(row[2]),
                          times.parse_rfc3339(row[3]))

    async def delete_web_session(self, id_hash: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM web_sessions WHERE id_hash = ?",
                                              (id_hash,)).rowcount)

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
                f" secrets = NULL, data_removed = 1 WHERE id IN ({marks})"
                " AND data_removed = 0", tuple(prediction_ids)).rowcount
            c.execute(
                "UPDATE webhook_deliveries SET payload = '', state = CASE state WHEN ?"
                " THEN ? ELSE state END, next_attempt_at = NULL,"
                f" finished_at = coalesce(finished_at, ?) WHERE prediction_id IN ({marks})",
                (DeliveryState.PENDING.value, DeliveryState.FAILED.value, finished,
                 *prediction_ids))
            return int(changed)

        return await self._write(call)

    # uploaded files

    async def insert_file(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.SQLITE)
        await self._write(lambda c: c.execute(statement.sql, statement.args).rowcount)

    async def get_file(self, account_id: int, file_id: str) -> StoredFile | None:
        return await self._one_file(sql.get_file(account_id, file_id, sql.SQLITE))

    async def get_file_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        return await self._one_file(sql.get_file_of_owner(username, file_id, sql.SQLITE))

    async def _one_file(self, statement: sql.Statement) -> StoredFile | None:
        row = await self._read(lambda c: c.execute(statement.sql, statement.args).fetchone())
        return None if row is None else sql.file_from_row(row, sql.SQLITE)

    async def list_files(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.SQLITE)
        rows = await self._scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        page = [sql.file_from_row(row, sql.SQLITE) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return page

    async def delete_file(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.SQLITE)
        rows = await self._write(lambda c: c.execute(statement.sql, statement.args).fetchall())
        return bool(rows)

    async def files_bytes(self, account_id: int, now: datetime) -> int:
        row = await self._read(lambda c: c.execute(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (account_id, _ts(now))).fetchone())
        return int(row[0])

    async def expired_files(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.SQLITE)
        rows = await self._scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        return [row[0] for row in rows]

    async def delete_files(self, file_ids: Sequence[str]) -> int:
        if not file_ids:
            return 0
        query = f"DELETE FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        return int(await self._write(lambda c: c.execute(query, args).rowcount))

    async def present_files(self, file_ids: Sequence[str]) -> set[str]:
        if not file_ids:
            return set()
        query = f"SELECT id FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        rows = await self._read(lambda c: c.execute(query, args).fetchall())
        return {row[0] for row in rows}

    # accounts and keys

    async def ensure_account(self, username: str) -> Account:
        def call(c: sqlite3.Connection) -> Any:
            c.execute(
                "INSERT INTO accounts (username, created_at) VALUES (?, ?)"
                " ON CONFLICT (username) DO NOTHING",
                (username, times.format_rfc3339(times.now())),
            )
            return c.execute(
                "SELECT id, username, created_at FROM accounts WHERE username = ?", (username,)
            ).fetchone()

        return _account(await self._write(call))

    async def insert_key(self, key: ApiKey) -> None:
        sql = (
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        args = (key.id, key.account_id, key.token_hash, key.hint, key.label,
                times.format_rfc3339(key.created_at))
        await self._write(lambda c: c.execute(sql, args).rowcount)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        sql = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = ? AND k.revoked_at IS NULL"
        )
        row = await self._read(lambda c: c.execute(sql, (token_hash,)).fetchone())
        return None if row is None else (_key(row[:7]), _account(row[7:]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        sql = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id"
        )
        rows = await self._scan(lambda c: c.execute(sql).fetchall())
        return [(_key(row[:7]), _account(row[7:])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        sql = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        args = (times.format_rfc3339(times.now()), key_id)
        changed = await self._write(lambda c: c.execute(sql, args).rowcount)
        return changed > 0


    async def revocations(self) -> tuple[int, str | None]:
        sql = "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL"
        row = await self._read(lambda c: c.execute(sql).fetchone())
        return int(row[0]), row[1]


# A prediction's deliveries go out one at a time, oldest first.
_FIRST_OF_ITS_PREDICTION = (
    "NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.prediction_id = d.prediction_id"
    " AND e.state = 'pending' AND e.seq < d.seq)"
)
_DELIVERY_COLUMNS = (
    "seq, id, prediction_id, account_id, event, url, payload, created_at, state, attempts,"
    " next_attempt_at, retry_until, finished_at"
)


def _insert_deliveries(connection: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
    connection.executemany(
        "INSERT INTO webhook_deliveries (id, prediction_id, account_id, event, url, payload,"
        " created_at, state, attempts, next_attempt_at, retry_until)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(d.id, d.prediction_id, d.account_id, d.event.value, d.url, d.payload.decode(),
          times.format_rfc3339(d.created_at), d.state.value, d.attempts,
          _ts(d.next_attempt_at), _ts(d.retry_until)) for d in deliveries],
    )


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(
        seq=row[0], id=row[1], prediction_id=row[2], account_id=row[3],
        event=WebhookEvent(row[4]), url=row[5], payload=row[6].encode(),
        created_at=times.parse_rfc3339(row[7]), state=DeliveryState(row[8]),
        attempts=row[9], next_attempt_at=_parse_ts(row[10]), retry_until=_parse_ts(row[11]),
        finished_at=_parse_ts(row[12]),
    )


def _attempt(row: tuple[Any, ...]) -> Attempt:
    return Attempt(number=row[0], started_at=times.parse_rfc3339(row[1]), duration_ms=row[2],
                   status_code=row[3], error=row[4])


_KEY_COLUMNS = "k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at"


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


def _account(row: tuple[Any, ...]) -> Account:
    return Account(id=row[0], username=row[1], created_at=times.parse_rfc3339(row[2]))


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
        created_at=times.parse_rfc3339(row[5]), revoked_at=_parse_ts(row[6]),
    )
