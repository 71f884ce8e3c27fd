"""The shared store: PostgreSQL, for API replicas and workers on many machines.

The schema and its behaviour are SQLite's (the prediction statements are the same,
from ``sql``); times are ``timestamptz``. Migrations are numbered files applied in
order under an advisory lock, so replicas starting together do not race; ``replicast
db upgrade`` applies them ahead of a deploy. Webhook deliveries are claimed with
``FOR UPDATE SKIP LOCKED``, so dispatchers in several processes share the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from replicast import times
from replicast.errors import ConfigError, StoreError, StoreUnavailable
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
from replicast.store.health import PROBE_SQL, Health
from replicast.store.postgres_records import PostgresRecords
from replicast.store.postgres_webhooks import PostgresWebhooks, insert_deliveries
from replicast.webhooks.delivery import Delivery, DeliveryState

log = logging.getLogger(__name__)

_COLUMNS = sql.PREDICTION_COLUMNS
_MIGRATION_LOCK = 0x7265706C  # any constant shared by every Replicast process
_ACCOUNT_LOCK = 0x72616363  # with an account id: that account's creates under a limit
_COUNT_UNFINISHED = ("SELECT count(*) FROM predictions WHERE account_id = $1"
                     f" AND status IN {sql.UNFINISHED}")


class PostgresStore(PostgresWebhooks, PostgresRecords, Store):
    """State in a PostgreSQL database, shared by every process that uses the same URL:
    predictions here, webhook deliveries in ``PostgresWebhooks``, files, accounts and
    keys in ``PostgresRecords``."""

    shared = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        try:
            import asyncpg
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("REPLICAST_DATABASE_URL is PostgreSQL, which needs the postgres "
                              "extra: pip install 'replicast[postgres]'") from None
        self._asyncpg = asyncpg
        # What a query may raise when PostgreSQL refuses it or is not there; of those,
        # what says it cannot be used now (gone, restarting, failed over, overloaded),
        # and what says its disk is full.
        self._errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
        self._unavailable = (
            asyncpg.InterfaceError, OSError, TimeoutError, asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.InsufficientResourcesError,
            asyncpg.exceptions.ReadOnlySQLTransactionError)
        self._full = (asyncpg.exceptions.DiskFullError,)
        self.health = Health()
        self.url = url
        self._pool_size = pool_size
        self._pool: Any = None

    async def open(self) -> None:
        await self.connect()
        await self._migrate()

    async def connect(self) -> None:
        """Connect without touching the schema."""
        try:
            # No floor of open connections: asyncpg would reconnect to keep one in the
            # background, logging a traceback a second while PostgreSQL is down. Queries
            # open what they need; idle connections stay open for minutes.
            self._pool = await self._asyncpg.create_pool(
                self.url, min_size=0, max_size=self._pool_size, command_timeout=60)
        except self._errors as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self._safe_url()}: "
                                   f"{exc}") from exc

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
        try:
            return await self._apply(migrations.load("postgres"))
        except self._errors as exc:
            raise self._failed(exc) from exc

    async def _apply(self, known: list[migrations.Migration]) -> list[str]:
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

    # predictions

    async def insert_prediction(self, prediction: Prediction) -> None:
        (statement,) = sql.insert_prediction(prediction, sql.POSTGRES)  # one, with WITH
        await self._execute(statement.sql, *statement.args)

    async def insert_prediction_within(self, prediction: Prediction,
                                       max_unfinished: int) -> int | None:
        (statement,) = sql.insert_prediction(prediction, sql.POSTGRES)
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

    async def list_predictions(self, query: PageQuery) -> PredictionRows:
        # First the sizes, which PostgreSQL reads without the values, then the rows that fit.
        sizes = sql.list_predictions(query, sql.POSTGRES, f"id, {sql.MEASURED_BYTES}")
        fill = sql.PageFill(query)
        ids = [row[0] for row in await self._fetch(sizes.sql, *sizes.args)
               if not fill.more and fill.admit(row[1])]
        rows = {row[0]: row for row in await self._fetch(
            f"SELECT {_COLUMNS} FROM predictions WHERE id = ANY($1::text[])", ids)}
        page = [_prediction(rows[prediction_id]) for prediction_id in ids]
        if query.after is not None:
            page.reverse()
        return PredictionRows(page, fill.more)

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
            if sql.clears_secrets(change, updated):
                clear = sql.clear_secrets(prediction_id, sql.POSTGRES)
                await c.execute(clear.sql, *clear.args)
                updated.secrets = None
            if deliveries is not None:
                await insert_deliveries(c, deliveries(updated))
            return updated

    async def unfinished_predictions(self) -> list[Prediction]:
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM predictions"
                                 f" WHERE status IN {sql.UNFINISHED} ORDER BY created_at, id")
        return [_prediction(row) for row in rows]

    async def run_counts(self) -> dict[str, int]:
        rows = await self._fetch("SELECT model, count(*) FROM predictions GROUP BY model")
        return {row[0]: row[1] for row in rows}

    # running predictions across processes

    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        if not prediction_ids:
            return 0
        result = await self._execute(
            "UPDATE predictions SET lease_until = $1 WHERE worker_id = $2"
            " AND status = 'processing' AND id = ANY($3::text[])",
            until, worker_id, list(prediction_ids))
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
        if self.health.writes_refused:  # reads work; do writes again?
            await self._execute(PROBE_SQL)

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
                " data_removed = true WHERE id = ANY($1::text[]) AND NOT data_removed",
                list(prediction_ids))
            await c.execute("DELETE FROM prediction_inputs WHERE prediction_id = ANY($1::text[])",
                            list(prediction_ids))
            await c.execute(
                "UPDATE webhook_deliveries SET payload = ''::bytea, state = CASE state"
                " WHEN $2 THEN $3 ELSE state END, next_attempt_at = NULL,"
                " finished_at = coalesce(finished_at, now()) WHERE prediction_id = ANY($1::text[])",
                list(prediction_ids), DeliveryState.PENDING.value, DeliveryState.FAILED.value)
        return int(status.rsplit(" ", 1)[-1])


def _prediction(row: Any) -> Prediction:
    return sql.prediction_from_row(row, sql.POSTGRES)

