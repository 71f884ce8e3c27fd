"""The PostgreSQL store's predictions: rows, compare-and-set changes (with their webhook
deliveries), pages, counts and retention's removals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import sql
from replicast.store.postgres import counts, outbox
from replicast.store.postgres.access import PostgresAccess, row_count
from replicast.store.predictions import Change, Guard, PageQuery, PredictionRows, PredictionStore
from replicast.webhooks.delivery import Delivery, DeliveryState

_COLUMNS = sql.PREDICTION_COLUMNS
_ACCOUNT_LOCK = 0x72616363  # with an account id: that account's creates under a limit
_COUNT_UNFINISHED = ("SELECT count(*) FROM predictions WHERE account_id = $1"
                     f" AND status IN {sql.UNFINISHED}")


class PostgresPredictions(PredictionStore):
    """Predictions in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def insert(self, prediction: Prediction, deliveries: Sequence[Delivery] = ()) -> None:
        (statement,) = sql.insert_prediction(prediction, sql.POSTGRES)  # one, with WITH
        if not deliveries:
            await self._db.execute(statement.sql, *statement.args)
            return
        async with self._db.transaction() as c:
            await c.execute(statement.sql, *statement.args)
            await outbox.insert_deliveries(c, deliveries)

    async def insert_within(self, prediction: Prediction, max_unfinished: int,
                            deliveries: Sequence[Delivery] = ()) -> int | None:
        (statement,) = sql.insert_prediction(prediction, sql.POSTGRES)
        async with self._db.transaction() as c:
            # One such create at a time per account, in every process, until the commit.
            await c.execute("SELECT pg_advisory_xact_lock($1, $2)", _ACCOUNT_LOCK,
                            prediction.account_id % 2**31)
            count = await c.fetchval(_COUNT_UNFINISHED, prediction.account_id)
            if count >= max_unfinished:
                return int(count)
            await c.execute(statement.sql, *statement.args)
            await outbox.insert_deliveries(c, deliveries)
        return None

    async def unfinished_count(self, account_id: int) -> int:
        return int(await self._db.fetchval(_COUNT_UNFINISHED, account_id))

    async def get(self, prediction_id: str) -> Prediction | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM predictions WHERE id = $1",
                                      prediction_id)
        return None if row is None else prediction(row)

    async def get_by_stream_token(self, token: str) -> Prediction | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM predictions WHERE stream_token = $1", token)
        return None if row is None else prediction(row)

    async def waiting_ahead(self, prediction: Prediction) -> int:
        statement = sql.waiting_ahead(prediction, sql.POSTGRES)
        return int(await self._db.fetchval(statement.sql, *statement.args))

    async def recent_run_seconds(self, model: str, limit: int) -> list[float]:
        statement = sql.recent_runs(model, limit, sql.POSTGRES)
        return sql.run_seconds(await self._db.fetch(statement.sql, *statement.args),
                               sql.POSTGRES)

    async def page(self, query: PageQuery) -> PredictionRows:
        # First the sizes, which PostgreSQL reads without the values, then the rows that fit.
        sizes = sql.list_predictions(query, sql.POSTGRES, f"id, {sql.MEASURED_BYTES}")
        fill = sql.PageFill(query)
        ids = [row[0] for row in await self._db.fetch(sizes.sql, *sizes.args)
               if not fill.more and fill.admit(row[1])]
        rows = {row[0]: row for row in await self._db.fetch(
            f"SELECT {_COLUMNS} FROM predictions WHERE id = ANY($1::text[])", ids)}
        page = [prediction(rows[prediction_id]) for prediction_id in ids]
        if query.after is not None:
            page.reverse()
        return PredictionRows(page, fill.more)

    async def update(
        self, prediction_id: str, expected: frozenset[Status], change: Change,
        *, guard: Guard | None = None,
        deliveries: Callable[[Prediction], Sequence[Delivery]] | None = None,
    ) -> Prediction | None:
        statement = sql.update_prediction(prediction_id, expected, change, guard, sql.POSTGRES)
        async with self._db.transaction() as c:
            row = await c.fetchrow(statement.sql, *statement.args)
            if row is None:
                return None
            updated = prediction(row)
            if sql.clears_secrets(change, updated):
                clear = sql.clear_secrets(prediction_id, sql.POSTGRES)
                await c.execute(clear.sql, *clear.args)
                updated.secrets = None
            if deliveries is not None:
                await outbox.insert_deliveries(c, deliveries(updated))
            return updated

    async def run_counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (model, _), count in (await self.status_counts()).items():
            totals[model] = totals.get(model, 0) + count
        return totals

    async def status_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._db.fetch(counts.PREDICTIONS)
        return {(row[0], row[1]): row[2] for row in rows}

    async def list_retained(self, completed_before: datetime, limit: int) -> list[str]:
        rows = await self._db.fetch(
            "SELECT id FROM predictions WHERE NOT data_removed AND source = 'api'"
            " AND completed_at IS NOT NULL AND completed_at < $1"
            " ORDER BY completed_at LIMIT $2", completed_before, limit)
        return [row[0] for row in rows]

    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        if not prediction_ids:
            return 0
        async with self._db.transaction() as c:
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
        return row_count(status)


def prediction(row: Any) -> Prediction:
    """A row of ``sql.PREDICTION_COLUMNS`` as a prediction."""
    return sql.prediction_from_row(row, sql.POSTGRES)
