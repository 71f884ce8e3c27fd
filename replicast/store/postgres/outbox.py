"""The PostgreSQL store's webhook outbox: deliveries, their claims and attempts, and each
account's signing secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from replicast.errors import StoreError
from replicast.store.outbox import OutboxStore
from replicast.store.postgres import counts
from replicast.store.postgres.access import PostgresAccess, row_count
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

_DELIVERY_COLUMNS = (
    "seq, id, prediction_id, account_id, event, url, payload, created_at, state, attempts,"
    " next_attempt_at, retry_until, finished_at"
)
# A prediction's deliveries go out one at a time, oldest first.
_FIRST_OF_ITS_PREDICTION = (
    "NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.prediction_id = d.prediction_id"
    " AND e.state = 'pending' AND e.seq < d.seq)"
)


class PostgresOutbox(OutboxStore):
    """Webhook deliveries in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def insert(self, deliveries: Sequence[Delivery], *,
                     while_running: str | None = None) -> bool:
        async with self._db.transaction() as c:
            if while_running is not None and await c.fetchval(
                    "SELECT 1 FROM predictions WHERE id = $1 AND status = 'processing'"
                    " FOR SHARE", while_running) is None:
                return False
            await insert_deliveries(c, deliveries)
            return True

    async def claim(self, now: datetime, lease_until: datetime, limit: int,
                    claimant: str | None = None) -> list[Delivery]:
        rows = await self._db.fetch(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, claimed_by = $4 WHERE seq IN ("
            " SELECT d.seq FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND d.next_attempt_at <= $2 AND {_FIRST_OF_ITS_PREDICTION}"
            " ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_DELIVERY_COLUMNS}", lease_until, now, limit, claimant)
        return sorted((_delivery(row) for row in rows), key=lambda d: d.seq)

    async def release_claims(self, now: datetime, claimant: str | None = None) -> int:
        return row_count(await self._db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, claimed_by = NULL"
            " WHERE state = 'pending' AND claimed_by IS NOT NULL"
            " AND ($2::text IS NULL OR claimed_by = $2)", now, claimant))

    async def next_due(self) -> datetime | None:
        value: datetime | None = await self._db.fetchval(
            "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
            f" WHERE d.state = 'pending' AND {_FIRST_OF_ITS_PREDICTION}")
        return value

    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *,
                             state: DeliveryState, next_attempt_at: datetime | None) -> None:
        finished = None if state is DeliveryState.PENDING else attempt.started_at
        async with self._db.transaction() as c:
            await c.execute(
                "INSERT INTO webhook_attempts (delivery_seq, number, started_at, duration_ms,"
                " status_code, error) VALUES ($1, $2, $3, $4, $5, $6)",
                delivery.seq, attempt.number, attempt.started_at, attempt.duration_ms,
                attempt.status_code, attempt.error)
            await c.execute(
                # Only while pending: a delivery given up meanwhile (its prediction's
                # data was removed) stays given up.
                "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3,"
                " finished_at = $4, claimed_by = NULL WHERE seq = $5 AND state = 'pending'",
                state.value, attempt.number, next_attempt_at, finished, delivery.seq)

    async def of_prediction(self, prediction_id: str) -> list[tuple[Delivery, list[Attempt]]]:
        found = [_delivery(row) for row in await self._db.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE prediction_id = $1"
            " ORDER BY seq", prediction_id)]
        attempts: dict[int, list[Attempt]] = {d.seq: [] for d in found}
        for row in await self._db.fetch(
                "SELECT delivery_seq, number, started_at, duration_ms, status_code, error"
                " FROM webhook_attempts WHERE delivery_seq = ANY($1::bigint[])"
                " ORDER BY delivery_seq, number", list(attempts)):
            attempts[row[0]].append(Attempt(row[1], row[2], row[3], row[4], row[5]))
        return [(d, attempts[d.seq]) for d in found]

    async def backlog(self) -> dict[str, int]:
        rows = await self._db.fetch(counts.DELIVERIES)
        return {row[0]: row[1] for row in rows}

    async def webhook_secret(self, account_id: int, proposed: str) -> str:
        secret = await self._db.fetchval(
            "UPDATE accounts SET webhook_secret = coalesce(webhook_secret, $1) WHERE id = $2"
            " RETURNING webhook_secret", proposed, account_id)
        if secret is None:
            raise StoreError(f"no account {account_id}")
        return str(secret)


async def insert_deliveries(connection: Any, deliveries: Sequence[Delivery]) -> None:
    """Add deliveries in the caller's transaction (a status change's, for one)."""
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
