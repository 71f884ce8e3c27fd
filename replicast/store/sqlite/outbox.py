"""The SQLite store's webhook outbox: deliveries, their claims and attempts, and each
account's signing secret."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from replicast import times
from replicast.errors import StoreError
from replicast.store import sql
from replicast.store.outbox import OutboxStore
from replicast.store.sqlite.access import SQLiteAccess
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

_ts = sql.SQLITE.time
_parse_ts = sql.SQLITE.parse_time


class SQLiteOutbox(OutboxStore):
    """Webhook deliveries in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

    async def insert(self, deliveries: Sequence[Delivery], *,
                     while_running: str | None = None) -> bool:
        def call(c: sqlite3.Connection) -> bool:
            if while_running is not None and c.execute(
                "SELECT 1 FROM predictions WHERE id = ? AND status = 'processing'",
                (while_running,),
            ).fetchone() is None:
                return False
            insert_deliveries(c, deliveries)
            return True

        return await self._db.write(call)

    async def claim(self, now: datetime, lease_until: datetime, limit: int,
                    claimant: str | None = None) -> list[Delivery]:
        query = (
            f"UPDATE webhook_deliveries SET next_attempt_at = ?, claimed_by = ? WHERE seq IN ("
            " SELECT d.seq FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND {_FIRST_OF_ITS_PREDICTION}"
            f" ORDER BY d.next_attempt_at LIMIT ?) RETURNING {_DELIVERY_COLUMNS}"
        )
        args = (times.format_rfc3339(lease_until), claimant, times.format_rfc3339(now), limit)
        rows = await self._db.write(lambda c: c.execute(query, args).fetchall())
        return sorted((_delivery(row) for row in rows), key=lambda d: d.seq)

    async def release_claims(self, now: datetime, claimant: str | None = None) -> int:
        query = ("UPDATE webhook_deliveries SET next_attempt_at = ?, claimed_by = NULL"
                 " WHERE state = 'pending' AND claimed_by IS NOT NULL"
                 " AND (? IS NULL OR claimed_by = ?)")
        args = (times.format_rfc3339(now), claimant, claimant)
        return int(await self._db.write(lambda c: c.execute(query, args).rowcount))

    async def next_due(self) -> datetime | None:
        query = ("SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
                 f" WHERE d.state = 'pending' AND {_FIRST_OF_ITS_PREDICTION}")
        row = await self._db.read(lambda c: c.execute(query).fetchone())
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
                " finished_at = ?, claimed_by = NULL WHERE seq = ? AND state = 'pending'",
                (state.value, attempt.number, _ts(next_attempt_at), _ts(finished),
                 delivery.seq),
            )

        await self._db.write(call)

    async def of_prediction(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        def call(c: sqlite3.Connection) -> list[tuple[Delivery, list[Attempt]]]:
            found = [_delivery(row) for row in c.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE prediction_id = ?"
                " ORDER BY seq", (prediction_id,))]
            return [(d, [_attempt(row) for row in c.execute(
                "SELECT number, started_at, duration_ms, status_code, error"
                " FROM webhook_attempts WHERE delivery_seq = ? ORDER BY number", (d.seq,))])
                for d in found]

        return await self._db.scan(call)

    async def backlog(self) -> dict[str, int]:
        # Kept by triggers as deliveries change (migration 0016): a few rows, inline.
        query = "SELECT state, n FROM delivery_counts WHERE n <> 0"
        rows = await self._db.read(lambda c: c.execute(query).fetchall())
        return {row[0]: row[1] for row in rows}

    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        def call(c: sqlite3.Connection) -> str:
            c.execute("UPDATE accounts SET webhook_secret = ? WHERE id = ?"
                      " AND webhook_secret IS NULL", (proposed, account_id))
            row = c.execute("SELECT webhook_secret FROM accounts WHERE id = ?",
                            (account_id,)).fetchone()
            if row is None:
                raise StoreError(f"no account {account_id}")
            return str(row[0])

        return await self._db.write(call)


# A prediction's deliveries go out one at a time, oldest first.
_FIRST_OF_ITS_PREDICTION = (
    "NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.prediction_id = d.prediction_id"
    " AND e.state = 'pending' AND e.seq < d.seq)"
)
_DELIVERY_COLUMNS = (
    "seq, id, prediction_id, account_id, event, url, payload, created_at, state, attempts,"
    " next_attempt_at, retry_until, finished_at"
)


def insert_deliveries(connection: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
    """Add deliveries in the caller's transaction (a status change's, for one)."""
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
