"""``python -m bench.segments``: where one synchronous prediction's time goes, stage by stage.

Replicast serves Cog's own ``predict.py`` (as in ``bench.alternate``) to one wrk client,
with time stamps noted at the seams of each prediction (``bench.segment_hooks``, loaded
into the server and its predictor process from outside the package). Each prediction's
cycle, from its request's bytes read to the next request's, is cut into stages: the HTTP
request, the create, the commit of its start, the predictor process, the commit of its
outcome, the answer, and the client's turn. The medians of each stage over thousands of
cycles move by a few microseconds between runs where rates move by tens of percent, so
they show what a change saves, and where, run beside the commit before. The cycle's mean
and 99th percentile add the pauses (a WAL restart, a collection) that medians leave out.
With several checkouts, the last lines give each one's cycle over the first's, round by
round (their median): on a VM whose speed drifts, the steadiest single figure.

    python -m bench.segments                        # this checkout
    python -m bench.segments --rounds 3 /tmp/before .   # alternating, medians of rounds
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import loadgen, servers
from bench.alternate import replicast_sync, start_serving

PORT = 8476
COG_PORT = 8477
HOOKS = Path(__file__).with_name("segment_hooks.py")

STAGES = (
    ("request read, to its handler (HTTP, middleware, routing)", "read", "handler"),
    ("handler: token, body, JSON checked", "handler", "create"),
    ("create: input validated, offered to the worker", "create", "begin"),
    ("start: its row made", "begin", "sql@begin"),
    ("start: SQLite transaction", "sql@begin", "sql.end@begin"),
    ("start announced, run set up, command written", "sql.end@begin", "sent"),
    ("predictor process: command through the pipe", "sent", "child.command"),
    ("predictor process: the prediction", "child.command", "child.done"),
    ("predictor process: done through the pipe", "child.done", "done"),
    ("run ends: runner, supervisor", "done", "record"),
    ("outcome: its change made", "record", "sql@record"),
    ("outcome: SQLite transaction", "sql@record", "sql.end@record"),
    ("outcome published, create woken", "sql.end@record", "answer"),
    ("answer: JSON, response written", "answer", "written"),
    ("client's turn (and the run's tidy-up)", "written", "next"),
)


def cycles(notes: list[tuple[int, str]]) -> list[dict[str, int]]:
    """Each prediction's notes, first of each kind, from one request read to the next;
    the SQLite notes named by the step they belong to (``sql@begin``, ``sql@record``)."""
    found: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    step = ""
    for at, tag in sorted(notes):
        if tag == "read":
            if current is not None and "written" in current:
                current["next"] = at
                found.append(current)
                current = None
            if current is None:
                current, step = {"read": at}, ""
            continue
        if current is None:
            continue
        if tag in ("begin", "record"):
            step = tag
        if tag in ("sql", "sql.end"):
            tag = f"{tag}@{step}"
        current.setdefault(tag, at)
    return found


def read_notes(prefix: Path) -> list[tuple[int, str]]:
    notes = []
    for file in prefix.parent.glob(f"{prefix.name}.*"):
        for line in file.read_text().splitlines():
            tag, at = line.split()
            notes.append((int(at), tag))
    return notes


def paired_ratios(first: list[float], other: list[float]) -> float:
    """The median over rounds of ``other``'s cycle over ``first``'s in the same round: the
    two ran seconds apart, so a VM whose speed drifts over minutes moves both alike."""
    return statistics.median(b / a for a, b in zip(first, other, strict=True))


def measure(source: Path, predictor: str, duration: float) -> tuple[dict[str, float], int]:
    """Median µs of each stage (and of the whole cycle, ``cycle``) for ``source``'s
    package, and the number of whole cycles they come from."""
    folder = Path(tempfile.mkdtemp(prefix="replicast-segments-"))
    shutil.copy(HOOKS, folder / "sitecustomize.py")
    prefix = folder / "notes"
    server = start_serving(PORT, source, predictor, path_first=folder,
                           extra_env={"BENCH_SEGMENTS_OUT": str(prefix)})
    try:
        replicast_sync(server, 1, duration)
    finally:
        server.stop_like_ctrl_c()  # the server and its predictor process write their notes
    found = cycles(read_notes(prefix))
    whole = [c for c in found[len(found) // 5:]  # the first fifth: warming up
             if all(a in c and b in c for _, a, b in STAGES)]
    if not whole:
        raise SystemExit(f"{source}: no prediction went through every stage (notes in {folder})")
    medians = {label: statistics.median(c[b] - c[a] for c in whole) / 1000
               for label, a, b in STAGES}
    lengths = sorted(c["next"] - c["read"] for c in whole)
    medians["cycle"] = statistics.median(lengths) / 1000
    medians["cycle, mean"] = statistics.mean(lengths) / 1000  # with the pauses
    medians["cycle, 99th percentile"] = lengths[int(len(lengths) * 0.99)] / 1000
    shutil.rmtree(folder, ignore_errors=True)
    return medians, len(whole)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.segments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", type=Path, default=[Path(".")],
                        help="checkouts whose replicast package to measure (default: this one)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    args = parser.parse_args()
    loadgen.wrk_version()
    predictor = servers.cog_text_predictor(COG_PORT)
    results: dict[Path, list[dict[str, float]]] = {source: [] for source in args.sources}
    for number in range(1, args.rounds + 1):
        for source in args.sources:
            medians, count = measure(source, predictor, args.duration)
            results[source].append(medians)
            print(f"round {number}, {source}: cycle {medians['cycle']:.0f} µs "
                  f"({count} predictions)", flush=True)
    names = [str(source) for source in args.sources]
    print(f"\n| stage (median µs, one client) | {' | '.join(names)} |")
    print(f"| --- |{' --- |' * len(names)}")
    for label in [label for label, _, _ in STAGES] + ["cycle", "cycle, mean",
                                                      "cycle, 99th percentile"]:
        cells = [statistics.median(r[label] for r in results[source])
                 for source in args.sources]
        print(f"| {label} | {' | '.join(f'{cell:.1f}' for cell in cells)} |")
    first = [r["cycle"] for r in results[args.sources[0]]]
    for source in args.sources[1:]:
        ratio = paired_ratios(first, [r["cycle"] for r in results[source]])
        print(f"\n{source} against {args.sources[0]}, round by round: median cycle ratio "
              f"{ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
