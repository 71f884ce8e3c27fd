"""The PostgreSQL store's runs: what waits, what is overdue or unfinished, leases, workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from replicast.predictions.prediction import Prediction
from replicast.store import sql
from replicast.store.postgres.access import PostgresAccess, row_count
from replicast.store.postgres.predictions import prediction
from replicast.store.runs import QueueStats, RunStore, WorkerInfo

_COLUMNS = sql.PREDICTION_COLUMNS


class PostgresRuns(RunStore):
    """Running predictions across processes, in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def list_unfinished(self) -> list[Prediction]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM predictions"
                                    f" WHERE status IN {sql.UNFINISHED} ORDER BY created_at, id")
        return [prediction(row) for row in rows]

    async def list_waiting(self, models: Sequence[str], created_before: datetime,
                           limit: int) -> list[tuple[str, str]]:
        rows = await self._db.fetch(
            "SELECT id, model FROM predictions WHERE status = 'starting'"
            " AND model = ANY($1::text[]) AND created_at < $2 ORDER BY created_at, id LIMIT $3",
            list(models), created_before, limit)
        return [(row[0], row[1]) for row in rows]

    async def waiting_models(self, limit: int) -> list[str]:
        rows = await self._db.fetch("SELECT DISTINCT model FROM predictions"
                                    " WHERE status = 'starting' LIMIT $1", limit)
        return [row[0] for row in rows]

    async def list_overdue(self, now: datetime, limit: int) -> list[str]:
        rows = await self._db.fetch(
            "SELECT id FROM predictions WHERE deadline IS NOT NULL AND deadline <= $1"
            f" AND status IN {sql.UNFINISHED} ORDER BY deadline LIMIT $2", now, limit)
        return [row[0] for row in rows]

    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        if not prediction_ids:
            return 0
        return row_count(await self._db.execute(
            "UPDATE predictions SET lease_until = $1 WHERE worker_id = $2"
            " AND status = 'processing' AND id = ANY($3::text[])",
            until, worker_id, list(prediction_ids)))

    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM predictions WHERE status = 'processing'"
            " AND lease_until < $1 ORDER BY lease_until LIMIT $2", now, limit)
        return [prediction(row) for row in rows]

    async def record_worker(self, worker: WorkerInfo) -> None:
        await self._db.execute(
            "INSERT INTO workers (id, host, pid, models, started_at, heartbeat_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE"
            " SET heartbeat_at = excluded.heartbeat_at, models = excluded.models",
            worker.id, worker.host, worker.pid, sql.json_text(list(worker.models)),
            worker.started_at, worker.heartbeat_at)

    async def remove_worker(self, worker_id: str) -> None:
        await self._db.execute("DELETE FROM workers WHERE id = $1", worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self._db.fetch("SELECT id, host, pid, models, started_at, heartbeat_at"
                                    " FROM workers ORDER BY started_at, id")
        return [WorkerInfo(row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4], row[5])
                for row in rows]

    async def queue_stats(self) -> list[QueueStats]:
        rows = await self._db.fetch(
            "SELECT model, count(*), min(created_at) FROM predictions"
            " WHERE status = 'starting' GROUP BY model ORDER BY model")
        return [QueueStats(row[0], row[1], row[2]) for row in rows]
