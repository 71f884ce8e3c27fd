"""``python -m bench.transactions``: what each index and trigger costs a prediction's commits.

A synchronous prediction commits twice on SQLite: its row, already started, and its
outcome. This runs those two statements, made by ``replicast.store.sql`` as the store
makes them, on the inline connection's settings, against a database at the latest
migration and against variants of it: each without one index or trigger, and each
statement in a transaction of its own (``BEGIN IMMEDIATE`` and ``COMMIT`` around it, as
before the store ran single statements in autocommit mode). For each it prints the WAL
frames (pages written) a prediction adds and the median time of the two statements,
rounds of the variants alternating in a random order; a variant's time over the
current schema's, round by round, is the steadier figure on a VM whose speed drifts.

Without an index its feature is gone (the lease sweep, the queue's estimates, a
stream's token lookup): the figures say what each one costs, not what could go.

    python -m bench.transactions
    python -m bench.transactions --rounds 20 --predictions 500
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from replicast import ids, times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import migrations, sql
from replicast.store.predictions import Change, Guard

WORKER = "bench-worker"
_FRAME = 24  # a WAL frame's header, before its page


@dataclass(frozen=True)
class Variant:
    """A schema (the latest, changed by ``after`` once migrated, or its text by ``text``)
    and how the statements are committed."""

    name: str
    after: str = ""
    text: Callable[[str], str] = field(default=lambda sql_text: sql_text)
    transactions: bool = False


VARIANTS = (
    Variant("current schema, autocommit"),
    Variant("each statement in BEGIN ... COMMIT", transactions=True),
    Variant("without the stream token's unique index",
            text=lambda t: t.replace("stream_token           TEXT NOT NULL UNIQUE",
                                     "stream_token           TEXT NOT NULL")),
    Variant("without predictions_by_lease", after="DROP INDEX predictions_by_lease"),
    Variant("without predictions_runs_by_model", after="DROP INDEX predictions_runs_by_model"),
    Variant("without predictions_retained", after="DROP INDEX predictions_retained"),
    Variant("without the count triggers", after="DROP TRIGGER prediction_counts_insert;"
                                                " DROP TRIGGER prediction_counts_update"),
    Variant("without foreign keys", after="PRAGMA foreign_keys=OFF"),
)


def open_database(folder: Path, variant: Variant) -> sqlite3.Connection:
    """A database at the latest migration, as ``variant`` changes it, set up as the
    store's inline connection is."""
    connection = sqlite3.connect(folder / "bench.db", isolation_level=None, timeout=0)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "secure_delete=ON", "wal_autocheckpoint=0"):
        connection.execute(f"PRAGMA {pragma}")
    for migration in migrations.load("sqlite"):
        connection.executescript(variant.text(migration.sql))
    connection.execute("INSERT INTO accounts (id, username, created_at) VALUES (1, 'bench', ?)",
                       (times.format_rfc3339(times.now()),))
    if variant.after:
        connection.executescript(variant.after)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return connection


def statements() -> tuple[sql.Statement, sql.Statement]:
    """A started prediction's insert and its successful end, as the store makes them."""
    now = times.now()
    started = Prediction(
        id=ids.prediction_id(), account_id=1, model="bench/cog-text", version="v" * 64,
        input={"prompt": "hello world", "delay": 0}, status=Status.PROCESSING,
        created_at=now, base_url="http://127.0.0.1:8000", stream_token=ids.url_token(),
        started_at=now, attempt=1, worker_id=WORKER, lease_until=now + timedelta(seconds=30))
    (insert,) = sql.insert_prediction(started, sql.SQLITE)
    end = sql.update_prediction(
        started.id, frozenset({Status.PROCESSING}),
        Change(status=Status.SUCCEEDED, completed_at=times.now(), output=["hello", " world"],
               metrics={"predict_time": 0.0004, "total_time": 0.0005}),
        Guard(worker_id=WORKER, attempt=1), sql.SQLITE)
    return insert, end


def run(connection: sqlite3.Connection, variant: Variant, count: int) -> list[int]:
    """Nanoseconds of each of ``count`` predictions' two commits (a passive checkpoint
    every 300 commits, as the store's, outside the time)."""
    spent = []
    for index in range(count):
        insert, end = statements()
        began = time.perf_counter_ns()
        if variant.transactions:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(insert.sql, insert.args)
            connection.execute("COMMIT")
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(end.sql, end.args).fetchone()
            connection.execute("COMMIT")
        else:
            connection.execute(insert.sql, insert.args)
            connection.execute(end.sql, end.args).fetchone()
        spent.append(time.perf_counter_ns() - began)
        if index % 150 == 149:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return spent


def frames_a_prediction(folder: Path, connection: sqlite3.Connection, variant: Variant,
                        count: int = 100) -> float:
    """WAL frames ``count`` predictions add to an emptied WAL, per prediction."""
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = folder / "bench.db-wal"
    before = wal.stat().st_size if wal.exists() else 0
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    for _ in range(count):
        insert, end = statements()
        connection.execute(insert.sql, insert.args)
        connection.execute(end.sql, end.args).fetchone()
    header = 32 if before == 0 else 0
    return (wal.stat().st_size - before - header) / (page_size + _FRAME) / count


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transactions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--predictions", type=int, default=300, help="per variant a round")
    args = parser.parse_args()
    databases = {}
    for variant in VARIANTS:
        folder = Path(tempfile.mkdtemp(prefix="replicast-transactions-"))
        connection = open_database(folder, variant)
        run(connection, variant, 300)  # past the first pages of every index
        frames = frames_a_prediction(folder, connection, variant)
        databases[variant.name] = (variant, connection, frames)
    medians: dict[str, list[float]] = {variant.name: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in random.sample(VARIANTS, len(VARIANTS)):
            connection = databases[variant.name][1]
            medians[variant.name].append(
                statistics.median(run(connection, variant, args.predictions)) / 1000)
    first = medians[VARIANTS[0].name]
    print(f"{args.rounds} rounds of {args.predictions} predictions a variant; SQLite "
          f"{sqlite3.sqlite_version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    print("| schema | WAL frames a prediction | µs a prediction (median) | against the first |")
    print("| --- | --- | --- | --- |")
    for variant in VARIANTS:
        rounds = medians[variant.name]
        ratio = statistics.median(a / b for a, b in zip(rounds, first, strict=True))
        print(f"| {variant.name} | {databases[variant.name][2]:.2f} | "
              f"{statistics.median(rounds):.1f} | {ratio:.3f} |")
    for _, connection, _ in databases.values():
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
