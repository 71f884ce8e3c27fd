"""``python -m bench.growth``: what requests cost as the store grows.

For each store (SQLite in a fresh data folder, PostgreSQL in a fresh database) and each
size, the store is filled with that many predictions through the store's own insert
statements (``replicast.store.sql.insert_prediction``, committed a few thousand at a
time), shaped as a month of use leaves them: four models, nine in ten succeeded, created
over 30 days, the data of all but the last hour's removed by retention. Then
``replicast serve`` starts on it and wrk measures, at 8 clients unless said: ``GET`` of
one prediction, the first page of the list, a model (whose ``run_count`` counts its
predictions), ``/metrics`` (1 client), and synchronous creates (``Prefer: wait``) at 1
and 8 clients. One table per store, a column per size.

``--backlog N`` measures instead retention catching up after a restart: N predictions
finished more than the retention ago, their data not yet removed, and sync creates at 1
client measured while the sweep works through them, beside the same server once it has.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import loadgen
from bench.servers import NO_RATE_LIMITS, TOKEN
from replicast import ids
from replicast.accounts.service import DEFAULT_ACCOUNT, Accounts
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store import open_store, sql
from replicast.store.base import Store

MODELS = ("black-forest-labs/flux-schnell", "replicast/echo", "black-forest-labs/flux-dev",
          "replicast/sleep")
ECHO = "/v1/models/replicast/echo/predictions"
BATCH = 5000
PORT = 8765
POSTGRES = os.environ.get("REPLICAST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Target:
    """A store to fill and serve from: SQLite in a folder, or a PostgreSQL database."""

    kind: str
    data_dir: Path
    database_url: str | None = None

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'replicast.db'}"

    def env(self) -> dict[str, str]:
        env = {"REPLICAST_DATA_DIR": str(self.data_dir)}
        if self.database_url:
            env["REPLICAST_DATABASE_URL"] = self.database_url
        return env


def _prediction(account_id: int, index: int, count: int, now: datetime, *,
                kept_after: datetime) -> Prediction:
    """The ``index``-th of ``count`` predictions made over the 30 days before ``now``."""
    created = now - timedelta(days=30) * (count - index) / max(count, 1)
    status = (Status.SUCCEEDED, Status.SUCCEEDED, Status.SUCCEEDED, Status.SUCCEEDED,
              Status.SUCCEEDED, Status.SUCCEEDED, Status.SUCCEEDED, Status.SUCCEEDED,
              Status.SUCCEEDED, Status.FAILED)[index % 10]
    if index % 31 == 0:
        status = Status.CANCELED
    pid = ids.prediction_id()
    removed = created < kept_after
    return Prediction(
        id=pid, account_id=account_id, model=MODELS[index % len(MODELS)], version="v1",
        input={} if removed else {"prompt": f"a paper boat number {index}", "seed": index},
        status=status, created_at=created, base_url=f"http://127.0.0.1:{PORT}",
        stream_token=ids.url_token(),
        output=None if removed or status is not Status.SUCCEEDED else [
            f"http://127.0.0.1:{PORT}/outputs/{pid}/{ids.random_id(26)}/out-0.webp"],
        logs="" if removed else "Generated 1 image(s) of 1024x1024 in 0.91s\n",
        error="Something went wrong" if status is Status.FAILED else None,
        started_at=created + timedelta(milliseconds=40),
        completed_at=created + timedelta(seconds=1.2),
        metrics={"predict_time": 1.16, "image_count": 1}, data_removed=removed, attempt=1,
    )


async def fill(target: Target, count: int, *, kept: timedelta = timedelta(hours=1)) -> float:
    """Make the server's token and ``count`` predictions of its account; seconds taken."""
    began = time.monotonic()
    store = open_store(target.store_url)
    await store.open()
    try:
        await Accounts(store.accounts).ensure_token(TOKEN)
        account = (await store.accounts.ensure_account(DEFAULT_ACCOUNT)).id
        now = datetime.now(UTC)
        kept_after = now - kept
        for start in range(0, count, BATCH):
            batch = [_prediction(account, i, count, now, kept_after=kept_after)
                     for i in range(start, min(count, start + BATCH))]
            await _insert(store, target.kind, batch)
            print(f"  {target.kind}: {min(count, start + BATCH)}/{count} predictions",
                  end="\r", file=sys.stderr, flush=True)
    finally:
        await store.close()
    print(file=sys.stderr)
    return time.monotonic() - began


async def _insert(store: Store, kind: str, batch: list[Prediction]) -> None:
    if kind == "sqlite":
        statements = [s for p in batch for s in sql.insert_prediction(p, sql.SQLITE)]

        def call(c):  # type: ignore[no-untyped-def]
            for s in statements:
                c.execute(s.sql, s.args)

        await store._db.write(call)  # type: ignore[attr-defined]
        return
    async with store._db.transaction() as c:  # type: ignore[attr-defined]
        for p in batch:
            for s in sql.insert_prediction(p, sql.POSTGRES):
                await c.execute(s.sql, *s.args)


class Serving:
    """``replicast serve`` on the target, rate limits off."""

    def __init__(self, target: Target, **env: str) -> None:
        self.target = target
        self.log = target.data_dir / "server.log"
        environment = {**os.environ, **target.env(), "REPLICAST_API_TOKEN": TOKEN,
                       "REPLICAST_LOG_LEVEL": "warning", **NO_RATE_LIMITS, **env}
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "replicast", "serve", "--port", str(PORT)], env=environment,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True)
        self.base = f"http://127.0.0.1:{PORT}"
        give_up = time.monotonic() + 120
        while True:
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise SystemExit(f"the server did not start:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.seconds_to_ready = time.monotonic() - began

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _latency(server: Serving, path: str, connections: int, duration: float) -> str:
    load = loadgen.run("get", f"{server.base}{path}", path, TOKEN, connections=connections,
                       duration=duration)
    errors = f", {load.other} errors" if load.other else ""
    return f"{load.rate:.0f}/s, p50 {load.p50_ms:.2f}, p99 {load.p99_ms:.2f}{errors}"


def _creates(server: Serving, connections: int, duration: float) -> str:
    load = loadgen.run("sync", f"{server.base}{ECHO}", ECHO, "201", TOKEN, "wait",
                       connections=connections, duration=duration)
    refused = f", {load.other} not succeeded" if load.other else ""
    return f"{load.rate:.0f}/s, p50 {load.p50_ms:.2f}, p99 {load.p99_ms:.2f}{refused}"


def measure(server: Serving, duration: float) -> dict[str, str]:
    """Every row of the table, for one store and size."""
    # Warm: the first requests compile schemas, open connections, fill caches. A hundred
    # creates also make the first page of the list the same at every size.
    for _ in range(100):
        server.get(ECHO.rsplit("/", 1)[0])
        httpx.post(f"{server.base}{ECHO}", json={"input": {"prompt": "warm"}},
                   headers={"Authorization": f"Bearer {TOKEN}", "Prefer": "wait"})
    recent = server.get("/v1/predictions").json()["results"][0]["id"]
    timed = {
        "`GET /v1/predictions/{id}`": lambda: _latency(
            server, f"/v1/predictions/{recent}", 8, duration),
        "`GET /v1/predictions` (first page)": lambda: _latency(
            server, "/v1/predictions", 8, duration),
        "`GET /v1/models/replicast/echo`": lambda: _latency(
            server, "/v1/models/replicast/echo", 8, duration),
        "`GET /metrics`, 1 client": lambda: _latency(server, "/metrics", 1, duration),
        "sync creates, 1 client": lambda: _creates(server, 1, duration),
        "sync creates, 8 clients": lambda: _creates(server, 8, duration),
    }
    rows: dict[str, str] = {}
    for name, run in timed.items():
        rows[name] = run()
    return rows


def _database() -> str:
    import asyncpg

    name = f"replicast_growth_{os.getpid()}_{int(time.time())}"

    async def create() -> None:
        connection = await asyncpg.connect(POSTGRES)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return f"{POSTGRES.rpartition('/')[0]}/{name}"


def _drop(url: str) -> None:
    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES)
        try:
            await connection.execute(
                f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def _target(kind: str) -> Target:
    folder = Path(tempfile.mkdtemp(prefix=f"replicast-growth-{kind}-"))
    return Target(kind, folder, _database() if kind == "postgres" else None)


def _remove(target: Target) -> None:
    shutil.rmtree(target.data_dir, ignore_errors=True)
    if target.database_url:
        _drop(target.database_url)


def _store_bytes(target: Target) -> int:
    if target.kind == "sqlite":
        return sum(p.stat().st_size for p in target.data_dir.glob("replicast.db*"))
    import asyncpg

    async def size() -> int:
        connection = await asyncpg.connect(target.database_url)
        try:
            return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await connection.close()

    return asyncio.run(size())


def growth(kind: str, sizes: list[int], duration: float) -> None:
    columns: dict[int, dict[str, str]] = {}
    for size in sizes:
        target = _target(kind)
        try:
            took = asyncio.run(fill(target, size))
            server = Serving(target)
            try:
                stored = _store_bytes(target)
                per_row = f" ({stored / size:.0f} B a row)" if size else ""
                rows = {"start-up (to ready)": f"{server.seconds_to_ready:.2f} s",
                        "store on disk": f"{stored / 2**20:.0f} MiB{per_row}",
                        "filled in": f"{took:.0f} s"}
                rows.update(measure(server, duration))
                rows["memory after (RSS)"] = f"{_rss(server.process.pid) / 2**20:.0f} MiB"
            finally:
                server.stop()
        finally:
            _remove(target)
        columns[size] = rows
        print(f"  {kind} at {size}: done", file=sys.stderr)
    names = list(next(iter(columns.values())))
    print(f"\n{kind}: rate, then p50 and p99 in ms\n")
    print("| measurement | " + " | ".join(f"{s:,} predictions" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name in names:
        print(f"| {name} | " + " | ".join(columns[s][name] for s in sizes) + " |")


def backlog(kind: str, count: int, duration: float) -> None:
    """Sync creates at 1 client while retention removes ``count`` predictions' data."""
    target = _target(kind)
    try:
        asyncio.run(fill(target, count, kept=timedelta(days=31)))  # nothing removed yet
        server = Serving(target, REPLICAST_RETENTION="1h")
        try:
            during = []
            began = time.monotonic()
            while _unremoved(target) > 0 and len(during) < 60:
                during.append(loadgen.run("sync", f"{server.base}{ECHO}", ECHO, "201", TOKEN,
                                          "wait", connections=1, duration=duration))
            caught_up = time.monotonic() - began
            after = [loadgen.run("sync", f"{server.base}{ECHO}", ECHO, "201", TOKEN, "wait",
                                 connections=1, duration=duration) for _ in range(3)]
        finally:
            server.stop()
    finally:
        _remove(target)
    print(f"\n{kind}: retention catching up with {count:,} predictions\n")
    print(f"caught up in {caught_up:.0f} s ({len(during)} runs of {duration:g} s meanwhile)\n")
    print("| sync creates, 1 client | rate | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for label, runs in (("while retention catches up", during), ("after", after)):
        for load in runs:
            print(f"| {label} | {load.rate:.0f}/s | {load.p50_ms:.2f} | {load.p99_ms:.2f} |")


def _unremoved(target: Target) -> int:
    """How many predictions finished over an hour ago still hold their data."""
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    query = ("SELECT count(*) FROM predictions WHERE data_removed = {false} AND source = 'api'"
             " AND completed_at < {cutoff}")
    if target.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(f"file:{target.data_dir / 'replicast.db'}?mode=ro",
                             uri=True) as c:
            return int(c.execute(query.format(false="0", cutoff="?"),
                                 (sql.SQLITE.time(cutoff),)).fetchone()[0])
    import asyncpg

    async def count() -> int:
        connection = await asyncpg.connect(target.database_url)
        try:
            return int(await connection.fetchval(query.format(false="false", cutoff="$1"),
                                                  cutoff))
        finally:
            await connection.close()

    return asyncio.run(count())


def _rss(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1]) * 1024
    return total


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,100000,1000000",
                        help="store sizes for SQLite (default %(default)s)")
    parser.add_argument("--postgres-sizes", default="0,100000",
                        help="store sizes for PostgreSQL; empty to skip it")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--backlog", type=int, default=0,
                        help="measure retention catching up with this many instead")
    args = parser.parse_args()
    wrk = loadgen.wrk_version()
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {os.cpu_count()} CPUs, Linux {platform.release()}, Python "
          f"{platform.python_version()}")
    print(f"Load generator: {wrk}; command: python -m bench.growth {' '.join(sys.argv[1:])}")
    if args.backlog:
        backlog("sqlite", args.backlog, args.duration)
        if args.postgres_sizes:
            backlog("postgres", args.backlog, args.duration)
        return 0
    growth("sqlite", [int(s) for s in args.sizes.split(",") if s], args.duration)
    pg_sizes = [int(s) for s in args.postgres_sizes.split(",") if s]
    if pg_sizes:
        growth("postgres", pg_sizes, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
