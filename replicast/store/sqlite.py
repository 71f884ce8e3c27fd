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
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import TERMINAL, Status
from replicast.store import migrations
from replicast.store.base import UNSET, Change, PageQuery, Store
from replicast.store.sqlite_access import SQLiteAccess
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

T = TypeVar("T")

_COLUMNS = (
    "id, account_id, model, version, input, status, created_at, base_url, stream_token,"
    " source, output, logs, error, started_at, completed_at, deadline, metrics, webhook,"
    " webhook_events_filter, data_removed, attempt, secrets"
)
_UNFINISHED = "(" + ", ".join(f"'{s.value}'" for s in Status if s not in TERMINAL) + ")"


class SQLiteStore(Store):
    """State in one SQLite file, reached as ``SQLiteAccess`` describes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SQLiteAccess(self._connect)

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
        return connection

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await self._db.open(_migrate)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc

    async def close(self) -> None:
        await self._db.close()

    async def _write(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.write(call)

    async def _read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.read(call)

    async def _scan(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.scan(call)

    # predictions

    async def insert_prediction(self, prediction: Prediction) -> None:
        row = _prediction_row(prediction)
        sql = f"INSERT INTO predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})"
        await self._write(lambda c: c.execute(sql, row).rowcount)

    async def get_prediction(self, prediction_id: str) -> Prediction | None:
        sql = f"SELECT {_COLUMNS} FROM predictions WHERE id = ?"
        row = await self._read(lambda c: c.execute(sql, (prediction_id,)).fetchone())
        return None if row is None else _prediction(row)

    async def get_prediction_by_stream_token(self, token: str) -> Prediction | None:
        sql = f"SELECT {_COLUMNS} FROM predictions WHERE stream_token = ?"
        row = await self._read(lambda c: c.execute(sql, (token,)).fetchone())
        return None if row is None else _prediction(row)

    async def list_predictions(self, query: PageQuery) -> list[Prediction]:
        where = ["account_id = ?"]
        args: list[Any] = [query.account_id]
        if query.before is not None:
            where.append("(created_at, id) < (?, ?)")
            args += [times.format_rfc3339(query.before[0]), query.before[1]]
        if query.after is not None:
            where.append("(created_at, id) > (?, ?)")
            args += [times.format_rfc3339(query.after[0]), query.after[1]]
        if query.created_after is not None:
            where.append("created_at >= ?")
            args.append(times.format_rfc3339(query.created_after))
        if query.created_before is not None:
            where.append("created_at < ?")
            args.append(times.format_rfc3339(query.created_before))
        if query.source is not None:
            where.append("source = ?")
            args.append(query.source)
        # Paging backwards reads upwards from the cursor, then flips the page.
        order = "ASC" if query.after is not None else "DESC"
        sql = (
            f"SELECT {_COLUMNS} FROM predictions WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {order}, id {order} LIMIT ?"
        )
        args.append(query.limit)
        rows = await self._scan(lambda c: c.execute(sql, args).fetchall())
        page = [_prediction(row) for row in rows]
        if query.after is not None:
            page.reverse()
        return page

    async def update_prediction(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, deadline_after: datetime | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        assignments, args = _assignments(change)
        if not assignments or not expected:
            raise StoreError("an update must change something and expect some status")
        marks = ", ".join("?" * len(expected))
        condition = f"id = ? AND status IN ({marks})"
        args += [prediction_id, *sorted(expected)]
        if deadline_after is not None:
            condition += " AND (deadline IS NULL OR deadline > ?)"
            args.append(times.format_rfc3339(deadline_after))
        sql = (f"UPDATE predictions SET {', '.join(assignments)} WHERE {condition}"
               f" RETURNING {_COLUMNS}")

        def call(c: sqlite3.Connection) -> Prediction | None:
            row = c.execute(sql, args).fetchone()
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
                "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,"
                " finished_at = ? WHERE seq = ?",
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


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    known = migrations.load("sqlite")
    if applied - {m.version for m in known}:
        raise StoreError("the database was written by a newer Replicast; upgrade Replicast")
    for migration in known:
        if migration.version in applied:
            continue
        for statement in _statements(migration.sql):
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, times.format_rfc3339(times.now())),
        )


def _statements(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' in literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _ts(value: datetime | None) -> str | None:
    return None if value is None else times.format_rfc3339(value)


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else times.parse_rfc3339(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _prediction_row(p: Prediction) -> tuple[Any, ...]:
    return (
        p.id, p.account_id, p.model, p.version, _json(p.input), p.status.value,
        times.format_rfc3339(p.created_at), p.base_url, p.stream_token, p.source,
        _json(p.output), p.logs, p.error, _ts(p.started_at), _ts(p.completed_at),
        _ts(p.deadline), _json(p.metrics), p.webhook,
        None if p.webhook_events_filter is None else _json(p.webhook_events_filter),
        int(p.data_removed), p.attempt, None if p.secrets is None else _json(p.secrets),
    )


def _prediction(row: tuple[Any, ...]) -> Prediction:
    return Prediction(
        id=row[0],
        account_id=row[1],
        model=row[2],
        version=row[3],
        input=orjson.loads(row[4]),
        status=Status(row[5]),
        created_at=times.parse_rfc3339(row[6]),
        base_url=row[7],
        stream_token=row[8],
        source=row[9],
        output=orjson.loads(row[10]),
        logs=row[11],
        error=row[12],
        started_at=_parse_ts(row[13]),
        completed_at=_parse_ts(row[14]),
        deadline=_parse_ts(row[15]),
        metrics=orjson.loads(row[16]),
        webhook=row[17],
        webhook_events_filter=None if row[18] is None else orjson.loads(row[18]),
        data_removed=bool(row[19]),
        attempt=row[20],
        secrets=None if row[21] is None else orjson.loads(row[21]),
    )


def _assignments(change: Change) -> tuple[list[str], list[Any]]:
    sets: list[str] = []
    args: list[Any] = []

    def put(column: str, value: Any) -> None:
        sets.append(f"{column} = ?")
        args.append(value)

    if change.status is not None:
        put("status", change.status.value)
        if change.status.terminal:
            sets.append("secrets = NULL")  # a finished prediction keeps no secret
    if change.started_at is not UNSET:
        put("started_at", _ts(change.started_at))
    if change.completed_at is not UNSET:
        put("completed_at", _ts(change.completed_at))
    if change.output is not UNSET:
        put("output", _json(change.output))
    if change.error is not UNSET:
        put("error", change.error)
    if change.logs is not UNSET:
        put("logs", change.logs + change.append_logs)
    elif change.append_logs:
        sets.append("logs = logs || ?")
        args.append(change.append_logs)
    if change.metrics is not UNSET:
        put("metrics", _json(change.metrics))
    if change.next_attempt:
        sets.append("attempt = attempt + 1")
    return sets, args


def _account(row: tuple[Any, ...]) -> Account:
    return Account(id=row[0], username=row[1], created_at=times.parse_rfc3339(row[2]))


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
        created_at=times.parse_rfc3339(row[5]), revoked_at=_parse_ts(row[6]),
    )
