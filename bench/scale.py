"""``python -m bench.scale``: throughput as workers are added, on PostgreSQL and Redis.

For 1, 2 and 4 workers, starts one API process (``serve --no-worker``) and that many
``replicast worker`` processes on a fresh PostgreSQL database and a private Redis,
all serving ``bench/predictors/gpu_like.py``: a model that, like a GPU model, runs
one prediction at a time and takes 50 ms (sleeping, so that the workers do not
compete for this machine's cores). wrk sends synchronous predictions from 16
connections; the queue wait (created_at → started_at) is read back from PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench import loadgen
from bench.servers import NO_RATE_LIMITS, TOKEN

ROOT = Path(__file__).resolve().parents[1]
PREDICTOR = f"{ROOT / 'bench' / 'predictors' / 'gpu_like.py'}:Predictor"
MODEL = "bench/gpu-like"
PATH = f"/v1/models/{MODEL}/predictions"
ADMIN_URL = os.environ.get("REPLICAST_BENCH_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/test")
API_PORT = 8481
CONNECTIONS = 16


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _database(action: str, name: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        if action == "create":
            await connection.execute(f'CREATE DATABASE "{name}"')
        else:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _waits(url: str) -> list[float]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT extract(epoch FROM started_at - created_at) FROM predictions"
            " WHERE started_at IS NOT NULL")
    finally:
        await connection.close()
    return sorted(float(r[0]) * 1000 for r in rows)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "replicast", *command], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _ready(url: str, processes: list[subprocess.Popen[bytes]], workers: int) -> None:
    give_up = time.monotonic() + 90
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < give_up:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a process exited before it was ready")
        try:
            if httpx.get(f"{url}/health/ready").status_code == 200:
                metrics = httpx.get(f"{url}/metrics", headers=headers).text
                if metrics.count("replicast_worker_heartbeat_age_seconds{") >= workers:
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the processes did not become ready in time")


def measure(workers: int, duration: float, redis_url: str) -> list[str]:
    name = f"replicast_bench_{workers}_{os.getpid()}"
    asyncio.run(_database("drop", name))
    asyncio.run(_database("create", name))
    database = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    folder = Path(tempfile.mkdtemp(prefix="replicast-scale-"))
    env = {**os.environ, "REPLICAST_DATABASE_URL": database, "REPLICAST_BROKER_URL": redis_url,
           "REPLICAST_API_TOKEN": TOKEN, "REPLICAST_DATA_DIR": str(folder),
           "REPLICAST_LOG_LEVEL": "warning", "REPLICAST_PREDICTORS": f"{MODEL}={PREDICTOR}",
           **NO_RATE_LIMITS}
    processes = [_start(["serve", "--no-worker", "--port", str(API_PORT)], {**env},
                        folder / "api.log")]
    for index in range(workers):
        processes.append(_start(["worker", "--models", MODEL], env, folder / f"w{index}.log"))
    try:
        url = f"http://127.0.0.1:{API_PORT}"
        _ready(url, processes, workers)
        loadgen.run("sync", f"{url}{PATH}", PATH, "201", TOKEN, "wait",
                    connections=CONNECTIONS, duration=2)  # warm-up
        load = loadgen.run("sync", f"{url}{PATH}", PATH, "201", TOKEN, "wait",
                           connections=CONNECTIONS, duration=duration)
        waits = asyncio.run(_waits(database))
    finally:
        for process in reversed(processes):
            _stop(process)
        if os.environ.get("REPLICAST_BENCH_KEEP"):
            print(f"kept {database} and {folder}", file=sys.stderr)
        else:
            asyncio.run(_database("drop", name))
            shutil.rmtree(folder, ignore_errors=True)
    return [str(workers), f"{load.rate:.1f}/s ({load.other} not done)",
            f"{load.p50_ms:.1f}", f"{load.p99_ms:.1f}",
            f"{statistics.median(waits):.1f}", f"{waits[int(len(waits) * 0.99)]:.1f}"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    args = parser.parse_args()
    loadgen.wrk_version()
    redis_port = _free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        time.sleep(0.3)
        for workers in (int(n) for n in args.workers.split(",")):
            rows.append(measure(workers, args.duration, f"redis://127.0.0.1:{redis_port}/0"))
    finally:
        redis.terminate()
        redis.wait()
    print(f"Command: python -m bench.scale {' '.join(sys.argv[1:])}".rstrip())
    print(f"Model: {MODEL}, one prediction at a time per worker, 50 ms each; "
          f"{CONNECTIONS} connections, Prefer: wait")
    print()
    print("| workers | rate | p50 ms | p99 ms | queue wait p50 ms | queue wait p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
