"""``python -m bench``: Replicast and Cog side by side, measured in one run.

Starts each server on loopback, warms it, runs wrk against it, and prints one
Markdown table. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx

from bench import loadgen, servers, streams
from bench.servers import TOKEN, Server

REPLICAST_PORT = 8471
COG_PORT = 8472
PREDICTOR_PORT = 8473
ECHO = "/v1/models/replicast/echo/predictions"
COG_TEXT = "/v1/models/bench/cog-text/predictions"
SAME_PREDICTOR = "Replicast serving Cog's predict.py"


def _sync(server: Server, connections: int, duration: float) -> loadgen.Load:
    if server.name == "Cog":
        return loadgen.run("sync", f"{server.base_url}/predictions", "/predictions", "200",
                           connections=connections, duration=duration)
    path = COG_TEXT if server.name == SAME_PREDICTOR else ECHO
    return loadgen.run("sync", f"{server.base_url}{path}", path, "201", TOKEN, "wait",
                       connections=connections, duration=duration)


def _queue_to_start(server: Server, count: int) -> tuple[float, float]:
    """p50 and p99 of started_at - created_at over the newest ``count`` predictions."""
    waits: list[float] = []
    url: str | None = f"{server.base_url}/v1/predictions"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        while url and len(waits) < count:
            page = client.get(url).json()
            for p in page["results"]:
                if "started_at" in p:
                    created = datetime.datetime.fromisoformat(p["created_at"])
                    started = datetime.datetime.fromisoformat(p["started_at"])
                    waits.append((started - created).total_seconds() * 1000)
            url = page["next"]
    waits.sort()
    return statistics.median(waits), waits[int(len(waits) * 0.99)]


def _finished_prediction(server: Server) -> str:
    response = httpx.post(f"{server.base_url}{ECHO}", json={"input": {"prompt": "x"}},
                          headers={"Authorization": f"Bearer {TOKEN}", "Prefer": "wait"})
    return str(response.json()["id"])


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--no-cog", action="store_true", help="measure Replicast alone")
    args = parser.parse_args()
    wrk = loadgen.wrk_version()
    if not args.no_cog:
        servers.ensure_cog()

    rows: list[list[str]] = []
    started: list[Server] = []
    try:
        replicast = servers.start_replicast(REPLICAST_PORT)
        started.append(replicast)
        measured = [replicast]
        if not args.no_cog:
            cog = servers.start_cog(COG_PORT)
            started.append(cog)
            measured.append(cog)
            # The very predict.py Cog serves, run by Replicast in a predictor process.
            same = servers.start_replicast(
                PREDICTOR_PORT, SAME_PREDICTOR,
                "--predictor", f"{servers.cog_predictor(COG_PORT)}:Runner",
                "--model-name", "bench/cog-text")
            started.append(same)
            measured.append(same)
        for server in measured:
            rows.append([f"time from start to ready, {server.name}", "",
                         f"{server.seconds_to_ready:.2f} s", "", ""])
            rows.append([f"idle memory (RSS, all processes), {server.name}", "",
                         f"{server.rss_bytes() / 2**20:.0f} MiB", "", ""])
        for server in measured:  # warm up
            _sync(server, 8, 3)

        waits = []
        for connections in (1, 8):
            for server in measured:
                load = _sync(server, connections, args.duration)
                rows.append([f"sync predictions (`Prefer: wait`), {server.name}",
                             str(connections), f"{load.rate:.0f}/s ok, {load.other} rejected",
                             _ms(load.p50_ms), _ms(load.p99_ms)])
                if server is replicast:
                    p50, p99 = _queue_to_start(replicast, min(load.ok, 5000))
                    waits.append(["queue to start (created_at → started_at), Replicast",
                                  str(connections), "in the sync run above", _ms(p50),
                                  _ms(p99)])
        rows += waits

        load = loadgen.run("create_poll", f"{replicast.base_url}{ECHO}", ECHO, TOKEN,
                           connections=8, threads=8, duration=args.duration)
        rows.append(["async create + poll to completion, Replicast", "8",
                     f"{load.rate:.0f}/s done, {load.other / max(load.ok, 1):.1f} polls each",
                     _ms(load.p50_ms), _ms(load.p99_ms)])
        if not args.no_cog:
            rows.append(["async create + poll, Cog", "8",
                         "n/a: Cog has no GET /predictions/{id}", "", ""])

        path = f"/v1/predictions/{_finished_prediction(replicast)}"
        load = loadgen.run("get", f"{replicast.base_url}{path}", path, TOKEN,
                           connections=8, duration=args.duration)
        rows.append(["`GET /v1/predictions/{id}`, Replicast", "8",
                     f"{load.rate:.0f}/s, {load.other} errors", _ms(load.p50_ms),
                     _ms(load.p99_ms)])

        sse = streams.measure(replicast.base_url, TOKEN)
        rows.append([f"SSE: {sse.streams} open streams, worker → client, Replicast",
                     str(sse.streams), f"{sse.rate:.0f} events/s ({sse.events} events)",
                     _ms(sse.p50_ms), _ms(sse.p99_ms)])
        rows.append(["memory after the run (RSS), Replicast", "",
                     f"{replicast.rss_bytes() / 2**20:.0f} MiB", "", ""])
    finally:
        for server in started:
            server.stop()

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), platform.processor())
    print(f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {os.cpu_count()} CPUs ({cpu}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"{platform.system()} {platform.release()}")
    cog_version = "not run" if args.no_cog else subprocess.run(
        [str(servers.COG_VENV / "bin" / "python"), "-c",
         "import importlib.metadata as m; print(m.version('cog'), m.version('coglet'))"],
        capture_output=True, text=True).stdout.strip().replace(" ", ", coglet ")
    print(f"Versions: Python {platform.python_version()}, replicast "
          f"{metadata.version('replicast')}, uvicorn {metadata.version('uvicorn')}, "
          f"starlette {metadata.version('starlette')}, cog {cog_version}")
    print(f"Load generator: {wrk} (1 thread; create + poll: 8 threads of 1 connection); "
          "SSE client: Python asyncio, same machine")
    print(f"Command: {' '.join([sys.executable.rsplit('/', 1)[-1], '-m', 'bench', *sys.argv[1:]])}")
    print()
    print(_row(["measurement", "clients", "rate", "p50 ms", "p99 ms"]))
    print(_row(["---", "---", "---", "---", "---"]))
    for row in rows:
        print(_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
