"""The counts of predictions (by model and status) and webhook deliveries (by state).

Triggers append every change to a log (migration 0013); a count is its folded value plus
the log since. Each process folds the log every ``FOLD_SECONDS``, one process at a time
(an advisory lock taken without waiting), so the log holds a few seconds of changes and
a read sums a few rows, however many predictions the database holds.
"""

from __future__ import annotations

import asyncio
import logging

from replicast.errors import StoreError, StoreUnavailable
from replicast.store.postgres.access import PostgresAccess

FOLD_SECONDS = 1.0
VACUUM_AFTER = 1000
"""Rows folded since the logs were last vacuumed that make the folder vacuum them: a read
scans the whole log, its dead rows too, and autovacuum may not come for a minute."""
_FOLD_LOCK = 0x72636E74  # any constant shared by every Replicast process

log = logging.getLogger(__name__)

PREDICTIONS = (
    "SELECT model, status, sum(n)::bigint FROM ("
    " SELECT model, status, n FROM prediction_counts"
    " UNION ALL SELECT model, status, delta FROM prediction_count_changes) AS counts"
    " GROUP BY model, status HAVING sum(n) <> 0")

DELIVERIES = (
    "SELECT state, sum(n)::bigint FROM ("
    " SELECT state, n FROM delivery_counts"
    " UNION ALL SELECT state, delta FROM delivery_count_changes) AS counts"
    " GROUP BY state HAVING sum(n) <> 0")

# Each moves the log's rows into the counts and says how many it moved.
_FOLD_PREDICTIONS = (
    "WITH moved AS (DELETE FROM prediction_count_changes RETURNING model, status, delta),"
    " folded AS (INSERT INTO prediction_counts (model, status, n)"
    " SELECT model, status, sum(delta) FROM moved GROUP BY model, status"
    " ON CONFLICT (model, status) DO UPDATE SET n = prediction_counts.n + excluded.n)"
    " SELECT count(*) FROM moved")

_FOLD_DELIVERIES = (
    "WITH moved AS (DELETE FROM delivery_count_changes RETURNING state, delta),"
    " folded AS (INSERT INTO delivery_counts (state, n)"
    " SELECT state, sum(delta) FROM moved GROUP BY state"
    " ON CONFLICT (state) DO UPDATE SET n = delivery_counts.n + excluded.n)"
    " SELECT count(*) FROM moved")


async def fold(db: PostgresAccess) -> int | None:
    """Fold the logs into the counts, unless another process is doing it (None); how many
    changes it folded."""
    # Only a fold that moved rows wrote anything: an idle one says nothing of whether
    # writes work again (a full disk, say).
    async with db.transaction(wrote=False) as c:
        if not await c.fetchval("SELECT pg_try_advisory_xact_lock($1)", _FOLD_LOCK):
            return None
        moved = await c.fetchval(_FOLD_PREDICTIONS) + await c.fetchval(_FOLD_DELIVERIES)
    if moved:
        db.health.succeeded(wrote=True)
    return int(moved)


async def vacuum(db: PostgresAccess) -> None:
    """Reclaim the logs' dead rows now (skipping a table another vacuum holds)."""
    await db.execute("VACUUM (SKIP_LOCKED) prediction_count_changes, delivery_count_changes")


async def fold_forever(db: PostgresAccess) -> None:
    """``fold`` every ``FOLD_SECONDS`` until cancelled, and ``vacuum`` once it has folded
    ``VACUUM_AFTER`` changes (an outage: the store logs it)."""
    folded = 0
    failing: str | None = None
    while True:
        await asyncio.sleep(FOLD_SECONDS)
        try:
            folded += await fold(db) or 0
            if folded >= VACUUM_AFTER:
                await vacuum(db)
                folded = 0
        except StoreUnavailable:
            continue  # the store logs each outage once
        except Exception as exc:  # refused (permissions, say): said once, tried again
            if str(exc) != failing:
                log.error("cannot fold the counts' log of changes (reads grow slower until "
                          "it can): %s", exc, exc_info=not isinstance(exc, StoreError))
                failing = str(exc)
            continue
        if failing is not None:
            log.info("the counts' log of changes is folded again")
            failing = None
