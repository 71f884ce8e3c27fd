"""``python -m bench.alternate``: Cog against Replicast serving Cog's own ``predict.py``,
round after round, from this checkout and from others (commits to compare).

Cog's rate moves by more between runs of a few seconds on a shared VM than a change to
Replicast does; measured in alternation, every server sees the same moments. Each round
runs every server at 1 client, then at 8, ``--duration`` seconds each; the medians and
their ratio to Cog's close the output, with the median CPU time the server and the
processes it started spent a successful prediction (the steadiest figure for an A/B
of Replicast's own work). Run it on an otherwise idle machine.

    git worktree add /tmp/before <commit>
    python -m bench.alternate --rounds 4 /tmp/before .
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import loadgen, servers
from bench.servers import TOKEN, Server

COG_PORT = 8472
FIRST_PORT = 8480
PATH = "/v1/models/bench/cog-text/predictions"
CLIENTS = (1, 8)


def start_serving(port: int, source: Path, predictor: str, **options: Any) -> Server:
    """``source``'s Replicast serving ``predictor`` (Cog's predict.py) as ``bench/cog-text``
    (``options``: those of ``servers.start_replicast``)."""
    return servers.start_replicast(port, str(source), "--predictor", predictor,
                                   "--model-name", "bench/cog-text", source=source.resolve(),
                                   **options)


def replicast_sync(server: Server, connections: int, duration: float) -> loadgen.Load:
    """Synchronous creates of Cog's predict.py served by Replicast as ``bench/cog-text``."""
    return loadgen.run("sync", f"{server.base_url}{PATH}", PATH, "201", TOKEN, "wait",
                       connections=connections, duration=duration)


def _sync(server: Server, cog: Server, connections: int, duration: float) -> loadgen.Load:
    if server is cog:
        return loadgen.run("sync", f"{server.base_url}/predictions", "/predictions", "200",
                           connections=connections, duration=duration)
    return replicast_sync(server, connections, duration)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alternate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", type=Path, default=[Path(".")],
                        help="checkouts whose replicast package to serve (default: this one)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    args = parser.parse_args()
    loadgen.wrk_version()
    servers.ensure_cog()
    started: list[Server] = []
    try:
        cog = servers.start_cog(COG_PORT)
        started.append(cog)
        predictor = f"{servers.cog_predictor(COG_PORT)}:Runner"
        for number, source in enumerate(args.sources):
            started.append(start_serving(FIRST_PORT + number, source, predictor))
        for server in started:  # warm up
            _sync(server, cog, 8, 2)
        rates: dict[tuple[int, int], list[float]] = {}
        costs: dict[tuple[int, int], list[float]] = {}
        for round_number in range(args.rounds):
            for clients in CLIENTS:
                for index, server in enumerate(started):
                    before = server.cpu_seconds()
                    load = _sync(server, cog, clients, args.duration)
                    # CPU time of the server and its processes per successful prediction
                    # (Cog's counts its refusals' work too).
                    cost = (server.cpu_seconds() - before) * 1000 / max(load.ok, 1)
                    rates.setdefault((index, clients), []).append(load.rate)
                    costs.setdefault((index, clients), []).append(cost)
                    print(f"round {round_number + 1}, {clients} client(s), {server.name}: "
                          f"{load.rate:.0f}/s ok, {load.other} rejected, p50 "
                          f"{load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, "
                          f"CPU {cost:.3f} ms a prediction", flush=True)
    finally:
        for server in started:
            server.stop()
    print()
    print("| server | clients | median rate | all rounds | ratio to Cog | CPU a prediction |")
    print("| --- | --- | --- | --- | --- | --- |")
    for clients in CLIENTS:
        cog_median = statistics.median(rates[(0, clients)])
        for index, server in enumerate(started):
            median = statistics.median(rates[(index, clients)])
            rounds = ", ".join(f"{rate:.0f}" for rate in rates[(index, clients)])
            cost = statistics.median(costs[(index, clients)])
            print(f"| {server.name} | {clients} | {median:.0f}/s | {rounds} | "
                  f"{median / cog_median:.2f} | {cost:.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
