"""The shared store: PostgreSQL, for API replicas and workers on many machines.

The schema and its behaviour are SQLite's (the prediction statements are the same,
from ``sql``); times are ``timestamptz``. Migrations are numbered files applied in
order under an advisory lock, so replicas starting together do not race; ``replicast
db upgrade`` applies them ahead of a deploy. Webhook deliveries are claimed with
``FOR UPDATE SKIP LOCKED``, so dispatchers in several processes share the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

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
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

log = logging.getLogger(__name__)

_COLUMNS = sql.PREDICTION_COLUMNS
_MIGRATION_LOCK = 0x7265706C  # any constant shared by every Replicast process
_ACCOUNT_LOCK = 0x72616363  # with an account id: that account's creates under a limit
_COUNT_UNFINISHED = ("SELECT count(*) FROM predictions WHERE account_id = $1"
                     f" AND status IN {sql.UNFINISHED}")
_DELIVERY_COLUMNS = (
    "seq, id, prediction_id, account_id, event, url, payload, created_at, state, attempts,"
    " next_attempt_at, retry_until, finished_at"
)
# A prediction's deliveries go out one at a time, oldest first.
_FIRST_OF_ITS_PREDICTION = (
    "NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.prediction_id = d.prediction_id"
    " AND e.state = 'pending' AND e.seq < d.seq)"
)
_KEY_COLUMNS = "k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at"


class PostgresStore(Store):
    """State in a PostgreSQL database, shared by every process that uses the same URL."""

    shared = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        try:
            import asyncpg
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("REPLICAST_DATABASE_URL is PostgreSQL, which needs the postgres "
                              "extra: pip install 'replicast[postgres]'") from None
        self._asyncpg = asyncpg
        # What a query may raise when PostgreSQL refuses it or is not there.
        self._errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
        self.url = url
        self._pool_size = pool_size
        self._pool: Any = None

    async def open(self) -> None:
        await self.connect()
        await self._migrate()

    async def connect(self) -> None:
        """Connect without touching the schema."""
        try:
            self._pool = await self._asyncpg.create_pool(
                self.url, min_size=1, max_size=self._pool_size, command_timeout=60)
        except self._errors as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self._safe_url()}: {exc}") \
                from exc

    def _safe_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # Waits for connections in use to come back: a query cut off by a
                # shutdown may never bring its own.
                await asyncio.wait_for(pool.close(), 5.0)
            except TimeoutError:
                log.warning("closing PostgreSQL connections took too long; dropping them")
                pool.terminate()

    async def upgrade(self) -> list[str]:
        if self._pool is None:
            await self.connect()
        return await self._migrate()

    async def _migrate(self) -> list[str]:
        """Apply the migrations this database lacks, in order; their names."""
        known = migrations.load("postgres")
        applied_now: list[str] = []
        async with self._pool.acquire() as c:
            await c.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await c.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
                applied = {r[0] for r in await c.fetch("SELECT version FROM schema_migrations")}
                if applied - {m.version for m in known}:
                    raise StoreError("the database was written by a newer Replicast; "
                                     "upgrade Replicast")
                for migration in known:
                    if migration.version in applied:
                        continue
                    async with c.transaction():
                        await c.execute(migration.sql)
                        await c.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at)"
                            " VALUES ($1, $2, $3)", migration.version, migration.name,
                            times.now())
                    applied_now.append(f"{migration.version:04d}_{migration.name}")
                    log.info("applied migration %04d_%s", migration.version, migration.name)
            finally:
                await c.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        return applied_now

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A connection in a transaction; PostgreSQL's failures become ``StoreError``."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield connection
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetchval(self, query: str, *args: Any) -> Any:
        try:
            return await self._pool.fetchval(query, *args)
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            return list(await self._pool.fetch(query, *args))
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        try:
            return await self._pool.fetchrow(query, *args)
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _execute(self, query: str, *args: Any) -> str:
        try:
            return str(await self._pool.execute(query, *args))
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    # predictions

    async def insert_prediction(self, prediction: Prediction) -> None:
        statement = sql.insert_prediction(prediction, sql.POSTGRES)
        await self._execute(statement.sql, *statement.args)

    async def insert_prediction_within(self, prediction: Prediction,
                                       max_unfinished: int) -> int | None:
        statement = sql.insert_prediction(prediction, sql.POSTGRES)
        async with self._transaction() as c:
            # One such create at a time per account, in every process, until the commit.
            await c.execute("SELECT pg_advisory_xact_lock($1, $2)", _ACCOUNT_LOCK,
                            prediction.account_id % 2**31)
            count = await c.fetchval(_COUNT_UNFINISHED, prediction.account_id)
            if count >= max_unfinished:
                return int(count)
            await c.execute(statement.sql, *statement.args)
        return None

    async def unfinished_count(self, account_id: int) -> int:
        return int(await self._fetchval(_COUNT_UNFINISHED, account_id))

    async def get_prediction(self, prediction_id: str) -> Prediction | None:
        row = await self._fetchrow(f"SELECT {_COLUMNS} FROM predictions WHERE id = $1",
                                   prediction_id)
        return None if row is None else _prediction(row)

    async def get_prediction_by_stream_token(self, token: str) -> Prediction | None:
        row = await self._fetchrow(
            f"SELECT {_COLUMNS} FROM predictions WHERE stream_token = $1", token)
        return None if row is None else _prediction(row)

    async def list_predictions(self, query: PageQuery) -> list[Prediction]:
        statement = sql.list_predictions(query, sql.POSTGRES)
        page = [_prediction(row) for row in await self._fetch(statement.sql, *statement.args)]
        if query.after is not None:
            page.reverse()
        return page

    async def update_prediction(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, guard: Guard | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        statement = sql.update_prediction(prediction_id, expected, change, guard, sql.POSTGRES)
        async with self._transaction() as c:
            row = await c.fetchrow(statement.sql, *statement.args)
            if row is None:
                return None
            updated = _prediction(row)
            if deliveries is not None:
                await _insert_deliveries(c, deliveries(updated))
            return updated

    async def unfinished_predictions(self) -> list[Prediction]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM predictions"
                                 f" WHERE status IN {sql.UNFINISHED} ORDER BY created_at, id")
        return [_prediction(row) for row in rows]

    async def run_counts(self) -> dict[str, int]:
        rows = await self._fetch("SELECT model, count(*) FROM predictions GROUP BY model")
        return {row[0]: row[1] for row in rows}

    # running predictions across processes

    async def renew_leases(self, worker_id: str, until: datetime) -> int:
        result = await self._execute(
            "UPDATE predictions SET lease_until = $1 WHERE worker_id = $2"
            " AND status = 'processing'", until, worker_id)
        return int(result.rsplit(" ", 1)[-1])

    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM predictions WHERE status = 'processing'"
            " AND lease_until < $1 ORDER BY lease_until LIMIT $2", now, limit)
        return [_prediction(row) for row in rows]

    async def waiting(self, models: Sequence[str], created_before: datetime,
                      limit: int) -> list[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT id, model FROM predictions WHERE status = 'starting'"
            " AND model = ANY($1::text[]) AND created_at < $2 ORDER BY created_at, id LIMIT $3",
            list(models), created_before, limit)
        return [(row[0], row[1]) for row in rows]

    async def waiting_models(self, limit: int) -> list[str]:
        rows = await self._fetch("SELECT DISTINCT model FROM predictions"
                                 " WHERE status = 'starting' LIMIT $1", limit)
        return [row[0] for row in rows]

    async def overdue(self, now: datetime, limit: int) -> list[str]:
        rows = await self._fetch(
            "SELECT id FROM predictions WHERE deadline IS NOT NULL AND deadline <= $1"
            f" AND status IN {sql.UNFINISHED} ORDER BY deadline LIMIT $2", now, limit)
        return [row[0] for row in rows]

    async def record_worker(self, worker: WorkerInfo) -> None:
        await self._execute(
            "INSERT INTO workers (id, host, pid, models, started_at, heartbeat_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE"
            " SET heartbeat_at = excluded.heartbeat_at, models = excluded.models",
            worker.id, worker.host, worker.pid, sql.json_text(list(worker.models)),
            worker.started_at, worker.heartbeat_at)

    async def remove_worker(self, worker_id: str) -> None:
        await self._execute("DELETE FROM workers WHERE id = $1", worker_id)

    async def workers(self) -> list[WorkerInfo]:
        rows = await self._fetch("SELECT id, host, pid, models, started_at, heartbeat_at"
                                 " FROM workers ORDER BY started_at, id")
        return [WorkerInfo(row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4], row[5])
                for row in rows]

    # what operators see

    async def status_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._fetch(
            "SELECT model, status, count(*) FROM predictions GROUP BY model, status")
        return {(row[0], row[1]): row[2] for row in rows}

    async def queue_stats(self) -> list[QueueStats]:
        rows = await self._fetch(
            "SELECT model, count(*), min(created_at) FROM predictions"
            " WHERE status = 'starting' GROUP BY model ORDER BY model")
        return [QueueStats(row[0], row[1], row[2]) for row in rows]

    async def webhook_backlog(self) -> dict[str, int]:
        rows = await self._fetch("SELECT state, count(*) FROM webhook_deliveries GROUP BY state")
        return {row[0]: row[1] for row in rows}

    async def ping(self) -> None:
        await self._fetchval("SELECT 1")

    # webhooks

    async def insert_deliveries(self, deliveries: Sequence[Delivery], *,
                                while_running: str | None = None) -> bool:
        async with self._transaction() as c:
            if while_running is not None and await c.fetchval(
                    "SELECT 1 FROM predictions WHERE id = $1 AND status = 'processing'"
                    " FOR SHARE", while_running) is None:
                return False
            await _insert_deliveries(c, deliveries)
            return True

    async def claim_deliveries(self, now: datetime, lease_until: datetime,
                               limit: int) -> list[Delivery]:
        rows = await self._fetch(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE seq IN ("
            " SELECT d.seq FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND d.next_attempt_at <= $2 AND {_FIRST_OF_ITS_PREDICTION}"
            " ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_DELIVERY_COLUMNS}", lease_until, now, limit)
        return sorted((_delivery(row) for row in rows), key=lambda d: d.seq)

    async def next_delivery_due(self) -> datetime | None:
        value: datetime | None = await self._fetchval(
            "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND {_FIRST_OF_ITS_PREDICTION}")
        return value

    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *,
                             state: DeliveryState, next_attempt_at: datetime | None) -> None:
        finished = None if state is DeliveryState.PENDING else attempt.started_at
        async with self._transaction() as c:
            await c.execute(
                "INSERT INTO webhook_attempts (delivery_seq, number, started_at, duration_ms,"
                " status_code, error) VALUES ($1, $2, $3, $4, $5, $6)",
                delivery.seq, attempt.number, attempt.started_at, attempt.duration_ms,
                attempt.status_code, attempt.error)
            await c.execute(
                # Only while pending: a delivery given up meanwhile (its prediction's
                # data was removed) stays given up.
                "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3,"
                " finished_at = $4 WHERE seq = $5 AND state = 'pending'",
                state.value, attempt.number, next_attempt_at, finished, delivery.seq)

    async def deliveries(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        found = [_delivery(row) for row in await self._fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE prediction_id = $1"
            " ORDER BY seq", prediction_id)]
        attempts: dict[int, list[Attempt]] = {d.seq: [] for d in found}
        for row in await self._fetch(
                "SELECT delivery_seq, number, started_at, duration_ms, status_code, error"
                " FROM webhook_attempts WHERE delivery_seq = ANY($1::bigint[])"
                " ORDER BY delivery_seq, number", list(attempts)):
            attempts[row[0]].append(Attempt(row[1], row[2], row[3], row[4], row[5]))
        return [(d, attempts[d.seq]) for d in found]

    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        secret = await self._fetchval(
            "UPDATE accounts SET webhook_secret = coalesce(webhook_secret, $1) WHERE id = $2"
            " RETURNING webhook_secret", proposed, account_id)
        if secret is None:
            raise StoreError(f"no account {account_id}")
        return str(secret)

    async def server_secret(self, name: str, proposed: str) -> str:
        await self._execute("INSERT INTO server_secrets (name, value) VALUES ($1, $2)"
                            " ON CONFLICT (name) DO NOTHING", name, proposed)
        return str(await self._fetchval("SELECT value FROM server_secrets WHERE name = $1",
                                        name))

    # web sessions

    async def insert_web_session(self, session: WebSession) -> None:
        async with self._transaction() as c:
            await c.execute("DELETE FROM web_sessions WHERE expires_at <= $1",
                            session.created_at)
            await c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at,"
                            " expires_at) VALUES ($1, $2, $3, $4)", session.id_hash,
                            session.key_digest, session.created_at, session.expires_at)

    async def get_web_session(self, id_hash: str, now: datetime) -> WebSession | None:
        row = await self._fetchrow(
            "SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
            " WHERE id_hash = $1 AND expires_at > $2", id_hash, now)
        return None if row is None else WebSession(row[0], row[1], row[2], row[3])

    async def delete_web_session(self, id_hash: str) -> None:
        await self._execute("DELETE FROM web_sessions WHERE id_hash = $1", id_hash)

    # retention

    async def retained(self, completed_before: datetime, limit: int) -> list[str]:
        rows = await self._fetch(
            "SELECT id FROM predictions WHERE NOT data_removed AND source = 'api'"
            " AND completed_at IS NOT NULL AND completed_at < $1"
            " ORDER BY completed_at LIMIT $2", completed_before, limit)
        return [row[0] for row in rows]

    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        if not prediction_ids:
            return 0
        async with self._transaction() as c:
            status = await c.execute(
                "UPDATE predictions SET input = '{}', output = 'null', logs = '',"
                " secrets = NULL, data_removed = true WHERE id = ANY($1::text[])"
                " AND NOT data_removed", list(prediction_ids))
            await c.execute(
                "UPDATE webhook_deliveries SET payload = ''::bytea, state = CASE state"
                " WHEN $2 THEN $3 ELSE state END, next_attempt_at = NULL,"
                " finished_at = coalesce(finished_at, now()) WHERE prediction_id = ANY($1::text[])",
                list(prediction_ids), DeliveryState.PENDING.value, DeliveryState.FAILED.value)
        return int(status.rsplit(" ", 1)[-1])

    # uploaded files

    async def insert_file(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.POSTGRES)
        await self._execute(statement.sql, *statement.args)

    async def get_file(self, account_id: int, file_id: str) -> StoredFile | None:
        statement = sql.get_file(account_id, file_id, sql.POSTGRES)
        row = await self._fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def get_file_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        statement = sql.get_file_of_owner(username, file_id, sql.POSTGRES)
        row = await self._fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def list_files(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.POSTGRES)
        page = [sql.file_from_row(row, sql.POSTGRES)
                for row in await self._fetch(statement.sql, *statement.args)]
        if query.after is not None:
            page.reverse()
        return page

    async def delete_file(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.POSTGRES)
        return bool(await self._fetch(statement.sql, *statement.args))

    async def files_bytes(self, account_id: int, now: datetime) -> int:
        return int(await self._fetchval(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = $1"
            " AND (expires_at IS NULL OR expires_at > $2)", account_id, now))

    async def expired_files(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.POSTGRES)
        return [row[0] for row in await self._fetch(statement.sql, *statement.args)]

    async def delete_files(self, file_ids: Sequence[str]) -> int:
        result = await self._execute("DELETE FROM files WHERE id = ANY($1::text[])",
                                     list(file_ids))
        return int(result.rsplit(" ", 1)[-1])

    async def present_files(self, file_ids: Sequence[str]) -> set[str]:
        rows = await self._fetch("SELECT id FROM files WHERE id = ANY($1::text[])",
                                 list(file_ids))
        return {row[0] for row in rows}

    # accounts and keys

    async def ensure_account(self, username: str) -> Account:
        await self._execute("INSERT INTO accounts (username, created_at) VALUES ($1, $2)"
                            " ON CONFLICT (username) DO NOTHING", username, times.now())
        row = await self._fetchrow(
            "SELECT id, username, created_at FROM accounts WHERE username = $1", username)
        return Account(id=row[0], username=row[1], created_at=row[2])

    async def insert_key(self, key: ApiKey) -> None:
        await self._execute(
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)", key.id, key.account_id, key.token_hash,
            key.hint, key.label, key.created_at)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        row = await self._fetchrow(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = $1 AND k.revoked_at IS NULL", token_hash)
        return None if row is None else (_key(row), Account(row[7], row[8], row[9]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        rows = await self._fetch(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id")
        return [(_key(row), Account(row[7], row[8], row[9])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        result = await self._execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            times.now(), key_id)
        return result != "UPDATE 0"

    async def revocations(self) -> tuple[int, str | None]:
        row = await self._fetchrow(
            "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL")
        return int(row[0]), None if row[1] is None else times.format_rfc3339(row[1])


def _prediction(row: Any) -> Prediction:
    return sql.prediction_from_row(row, sql.POSTGRES)


async def _insert_deliveries(connection: Any, deliveries: Sequence[Delivery]) -> None:
    if not deliveries:
        return
    await connection.executemany(
        "INSERT INTO webhook_deliveries (id, prediction_id, account_id, event, url, payload,"
        " created_at, state, attempts, next_attempt_at, retry_until)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        [(d.id, d.prediction_id, d.account_id, d.event.value, d.url, d.payload, d.created_at,
          d.state.value, d.attempts, d.next_attempt_at, d.retry_until) for d in deliveries])


def _delivery(row: Any) -> Delivery:
    return Delivery(
        seq=row[0], id=row[1], prediction_id=row[2], account_id=row[3],
        event=WebhookEvent(row[4]), url=row[5], payload=bytes(row[6]), created_at=row[7],
        state=DeliveryState(row[8]), attempts=row[9], next_attempt_at=row[10],
        retry_until=row[11], finished_at=row[12])


def _key(row: Any) -> ApiKey:
    return ApiKey(id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
                  created_at=row[5], revoked_at=row[6])
