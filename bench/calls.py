"""``python -m bench.calls``: the Python work of one synchronous prediction, counted.

Replicast serving Cog's own ``predict.py`` (as in ``bench.alternate``) runs under cProfile
twice, through a short and a long run of synchronous creates at one client; the
difference between the two profiles, divided by the difference in predictions, is what
one prediction costs in the steady state, start-up and shut-down left out. The number of
Python calls a prediction makes does not move with the machine's speed, as rates and CPU
times do on a shared VM, so it compares commits exactly; the times (inflated by the
profiler, several times over for code that makes many calls) say where the calls go.

    python -m bench.calls                 # this checkout
    python -m bench.calls /tmp/before .   # two checkouts, one after the other
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen, servers
from bench.alternate import replicast_sync, start_serving

PORT = 8478
COG_PORT = 8479


@dataclass(frozen=True)
class Row:
    """One function's share of a prediction."""

    name: str
    calls: float
    own_us: float
    total_us: float


def measure(source: Path, predictor: str, short: float, long: float) -> tuple[float, list[Row]]:
    """Python calls a prediction makes with ``source``'s package, and the rows per function."""
    folder = Path(tempfile.mkdtemp(prefix="replicast-calls-"))
    runs = []
    for seconds in (short, long):
        profile = folder / f"{seconds:g}.prof"
        server = start_serving(PORT, source, predictor, profile_to=profile)
        try:
            load = replicast_sync(server, 1, seconds)
        finally:
            server.stop_like_ctrl_c()  # cProfile writes what it counted
        runs.append((load.ok, pstats.Stats(str(profile)).stats))  # type: ignore[attr-defined]
    (few, before), (many, after) = runs
    predictions = many - few
    rows = []
    for key, (_, calls, own, total, _) in after.items():
        earlier = before.get(key, (0, 0, 0.0, 0.0, None))
        path, line, function = key
        name = f"{_short(path)}:{line}({function})"
        rows.append(Row(name, (calls - earlier[1]) / predictions,
                        (own - earlier[2]) / predictions * 1e6,
                        (total - earlier[3]) / predictions * 1e6))
    return sum(row.calls for row in rows), rows


def _short(path: str) -> str:
    for marker in ("site-packages/", "/replicast/", "/python3.11/", "/lib/python3"):
        if marker in path:
            tail = path.rpartition(marker)[2]
            return ("replicast/" if marker == "/replicast/" else "") + tail
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", type=Path, default=[Path(".")],
                        help="checkouts whose replicast package to measure (default: this one)")
    parser.add_argument("--short", type=float, default=2.0, help="seconds of the short run")
    parser.add_argument("--long", type=float, default=8.0, help="seconds of the long run")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--by", choices=("own", "calls"), default="own",
                        help="list the functions by their own time or by their calls")
    args = parser.parse_args()
    loadgen.wrk_version()
    predictor = servers.cog_text_predictor(COG_PORT)
    totals = []
    for source in args.sources:
        calls, rows = measure(source, predictor, args.short, args.long)
        totals.append((source, calls))
        print(f"\n{source}: {calls:.0f} Python calls a prediction; by {args.by} (profiled):")
        key = (lambda r: -r.own_us) if args.by == "own" else (lambda r: -r.calls)
        for row in sorted(rows, key=key)[:args.top]:
            print(f"  {row.own_us:7.1f} µs own {row.total_us:8.1f} µs in all "
                  f"{row.calls:6.2f} calls  {row.name}")
    print()
    for source, calls in totals:
        print(f"{source}: {calls:.0f} Python calls a prediction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
