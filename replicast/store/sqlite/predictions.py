"""The SQLite store's predictions: rows, compare-and-set changes (with their webhook
deliveries), pages, counts and retention's removals."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from replicast import times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import sql
from replicast.store.predictions import Change, Guard, PageQuery, PredictionRows, PredictionStore
from replicast.store.sqlite import outbox
from replicast.store.sqlite.access import SQLiteAccess
from replicast.webhooks.delivery import Delivery, DeliveryState

_COLUMNS = sql.PREDICTION_COLUMNS
# Through the partial index of the account's unfinished predictions, which the limit
# keeps small, rather than all of its predictions, which SQLite might pick by itself.
_COUNT_UNFINISHED = (
    "SELECT count(*) FROM predictions INDEXED BY predictions_unfinished_by_account"
    f" WHERE account_id = ? AND status IN {sql.UNFINISHED}"
)


class SQLitePredictions(PredictionStore):
    """Predictions in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

    async def insert(self, prediction: Prediction, deliveries: Sequence[Delivery] = ()) -> None:
        statements = sql.insert_prediction(prediction, sql.SQLITE)

        def call(c: sqlite3.Connection) -> None:
            run_all(c, statements)
            if deliveries:
                outbox.insert_deliveries(c, deliveries)

        await self._db.write(call, alone=len(statements) == 1 and not deliveries)

    async def insert_within(self, prediction: Prediction, max_unfinished: int,
                            deliveries: Sequence[Delivery] = ()) -> int | None:
        statements = sql.insert_prediction(prediction, sql.SQLITE)

        # A write holds SQLite's one write lock from the count to the commit.
        def call(c: sqlite3.Connection) -> int | None:
            (count,) = c.execute(_COUNT_UNFINISHED, (prediction.account_id,)).fetchone()
            if count >= max_unfinished:
                return int(count)
            run_all(c, statements)
            if deliveries:
                outbox.insert_deliveries(c, deliveries)
            return None

        return await self._db.write(call)

    async def unfinished_count(self, account_id: int) -> int:
        row = await self._db.read(lambda c: c.execute(_COUNT_UNFINISHED, (account_id,)).fetchone())
        return int(row[0])

    async def get(self, prediction_id: str) -> Prediction | None:
        query = f"SELECT {_COLUMNS} FROM predictions WHERE id = ?"
        row = await self._db.read(lambda c: c.execute(query, (prediction_id,)).fetchone())
        return None if row is None else prediction(row)

    async def get_by_stream_token(self, token: str) -> Prediction | None:
        query = f"SELECT {_COLUMNS} FROM predictions WHERE stream_token = ?"
        row = await self._db.read(lambda c: c.execute(query, (token,)).fetchone())
        return None if row is None else prediction(row)

    async def waiting_ahead(self, prediction: Prediction) -> int:
        statement = sql.waiting_ahead(prediction, sql.SQLITE)
        row = await self._db.read(lambda c: c.execute(statement.sql, statement.args).fetchone())
        return int(row[0])

    async def recent_run_seconds(self, model: str, limit: int) -> list[float]:
        statement = sql.recent_runs(model, limit, sql.SQLITE)
        rows = await self._db.read(lambda c: c.execute(statement.sql, statement.args).fetchall())
        return sql.run_seconds(rows, sql.SQLITE)

    async def page(self, query: PageQuery) -> PredictionRows:
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

        rows, more = await self._db.scan(call)
        page = [prediction(row) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return PredictionRows(page, more)

    async def update(
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
            updated = prediction(row)
            # The row as it was changed, before the trigger that clears the secrets of a
            # finished prediction (migration 0018) ran, in the same statement.
            if sql.clears_secrets(change, updated):
                updated.secrets = None
                cleared.append(True)
            if deliveries is not None:
                outbox.insert_deliveries(c, deliveries(updated))
            return updated

        updated = await self._db.write(call, alone=deliveries is None)
        if cleared:
            self._db.scrub_soon()
        return updated

    # Counts kept by triggers as predictions change (migration 0016): a few rows, inline.
    async def run_counts(self) -> dict[str, int]:
        query = "SELECT model, sum(n) FROM prediction_counts GROUP BY model HAVING sum(n) <> 0"
        rows = await self._db.read(lambda c: c.execute(query).fetchall())
        return {model: count for model, count in rows}

    async def status_counts(self) -> dict[tuple[str, str], int]:
        query = "SELECT model, status, n FROM prediction_counts WHERE n <> 0"
        rows = await self._db.read(lambda c: c.execute(query).fetchall())
        return {(row[0], row[1]): row[2] for row in rows}

    async def list_retained(self, completed_before: datetime, limit: int) -> list[str]:
        def call(c: sqlite3.Connection) -> list[str]:
            return [row[0] for row in c.execute(
                "SELECT id FROM predictions WHERE data_removed = 0 AND source = 'api'"
                " AND completed_at IS NOT NULL AND completed_at < ?"
                " ORDER BY completed_at LIMIT ?", (sql.SQLITE.time(completed_before), limit))]

        return await self._db.read(call)

    async def remove_data(self, prediction_ids: Sequence[str]) -> int:
        if not prediction_ids:
            return 0
        marks = ", ".join("?" * len(prediction_ids))
        finished = sql.SQLITE.time(times.now())

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

        changed = await self._db.write(call)
        if changed:
            self._db.scrub_soon()
        return changed


def run_all(connection: sqlite3.Connection, statements: list[sql.Statement]) -> None:
    """Run statements in order on one connection (one transaction: the caller's)."""
    for statement in statements:
        connection.execute(statement.sql, statement.args)


def prediction(row: tuple[Any, ...]) -> Prediction:
    """A row of ``sql.PREDICTION_COLUMNS`` as a prediction."""
    return sql.prediction_from_row(row, sql.SQLITE)
