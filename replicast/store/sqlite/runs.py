"""The SQLite store's runs: what waits, what is overdue or unfinished, leases, workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from replicast import times
from replicast.predictions.prediction import Prediction
from replicast.store import sql
from replicast.store.runs import QueueStats, RunStore, WorkerInfo
from replicast.store.sqlite.access import SQLiteAccess
from replicast.store.sqlite.predictions import prediction

_COLUMNS = sql.PREDICTION_COLUMNS
# Through the partial index of unfinished predictions (few), not the whole table.
UNFINISHED_ROWS = (
    f"SELECT {_COLUMNS} FROM predictions INDEXED BY predictions_unfinished_by_account"
    f" WHERE status IN {sql.UNFINISHED} ORDER BY created_at, id"
)


class SQLiteRuns(RunStore):
    """Running predictions across processes, in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

    async def list_unfinished(self) -> list[Prediction]:
        rows = await self._db.scan(lambda c: c.execute(UNFINISHED_ROWS).fetchall())
        return [prediction(row) for row in rows]

    async def list_waiting(self, models: Sequence[str], created_before: datetime,
                           limit: int) -> list[tuple[str, str]]:
        if not models:
            return []
        query = ("SELECT id, model FROM predictions WHERE status = 'starting'"
                 f" AND model IN ({', '.join('?' * len(models))}) AND created_at < ?"
                 " ORDER BY created_at, id LIMIT ?")
        args = (*models, times.format_rfc3339(created_before), limit)
        rows = await self._db.scan(lambda c: c.execute(query, args).fetchall())
        return [(row[0], row[1]) for row in rows]

    async def waiting_models(self, limit: int) -> list[str]:
        query = "SELECT DISTINCT model FROM predictions WHERE status = 'starting' LIMIT ?"
        rows = await self._db.scan(lambda c: c.execute(query, (limit,)).fetchall())
        return [row[0] for row in rows]

    async def list_overdue(self, now: datetime, limit: int) -> list[str]:
        query = (f"SELECT id FROM predictions WHERE deadline IS NOT NULL AND deadline <= ?"
                 f" AND status IN {sql.UNFINISHED} ORDER BY deadline LIMIT ?")
        args = (times.format_rfc3339(now), limit)
        rows = await self._db.scan(lambda c: c.execute(query, args).fetchall())
        return [row[0] for row in rows]

    async def renew_leases(self, worker_id: str, prediction_ids: Sequence[str],
                           until: datetime) -> int:
        if not prediction_ids:
            return 0
        query = ("UPDATE predictions SET lease_until = ? WHERE worker_id = ?"
                 f" AND status = 'processing' AND id IN ({', '.join('?' * len(prediction_ids))})")
        args = (times.format_rfc3339(until), worker_id, *prediction_ids)
        return int(await self._db.write(lambda c: c.execute(query, args).rowcount))

    async def expired_leases(self, now: datetime, limit: int) -> list[Prediction]:
        query = (f"SELECT {_COLUMNS} FROM predictions WHERE status = 'processing'"
                 " AND lease_until < ? ORDER BY lease_until LIMIT ?")
        args = (times.format_rfc3339(now), limit)
        rows = await self._db.scan(lambda c: c.execute(query, args).fetchall())
        return [prediction(row) for row in rows]

    async def record_worker(self, worker: WorkerInfo) -> None:
        query = ("INSERT INTO workers (id, host, pid, models, started_at, heartbeat_at)"
                 " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
                 " SET heartbeat_at = excluded.heartbeat_at, models = excluded.models")
        args = (worker.id, worker.host, worker.pid, sql.json_text(list(worker.models)),
                times.format_rfc3339(worker.started_at),
                times.format_rfc3339(worker.heartbeat_at))
        await self._db.write(lambda c: c.execute(query, args).rowcount)

    async def remove_worker(self, worker_id: str) -> None:
        await self._db.write(lambda c: c.execute("DELETE FROM workers WHERE id = ?",
                                                 (worker_id,)).rowcount)

    async def list_workers(self) -> list[WorkerInfo]:
        query = ("SELECT id, host, pid, models, started_at, heartbeat_at FROM workers"
                 " ORDER BY started_at, id")
        rows = await self._db.scan(lambda c: c.execute(query).fetchall())
        return [WorkerInfo(row[0], row[1], row[2], tuple(orjson.loads(row[3])),
                           times.parse_rfc3339(row[4]), times.parse_rfc3339(row[5]))
                for row in rows]

    async def queue_stats(self) -> list[QueueStats]:
        query = ("SELECT model, count(*), min(created_at) FROM predictions"
                 " WHERE status = 'starting' GROUP BY model ORDER BY model")
        rows = await self._db.scan(lambda c: c.execute(query).fetchall())
        return [QueueStats(row[0], row[1], sql.SQLITE.parse_time(row[2])) for row in rows]
