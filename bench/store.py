"""``python -m bench.store``: CPU time per call of the SQLite store, in this process.

A fresh store in a temporary folder; per round, ``--calls`` predictions are inserted,
read back, moved to ``processing``, and pages of 100 listed. CPU time (this process,
all threads) rather than wall time, so that other processes on a shared machine count
less; the median over ``--rounds`` is printed. To compare two checkouts, run it with
``PYTHONPATH`` set to each in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from replicast import ids, times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.predictions import Change, PageQuery
from replicast.store.sqlite.store import SQLiteStore

CALLS = ("insert", "get", "status update", "page of 100")


def _prediction(account_id: int) -> Prediction:
    return Prediction(id=ids.prediction_id(), account_id=account_id, model="replicast/echo",
                      version="v", input={"prompt": "hello world", "delay": 0},
                      status=Status.STARTING, created_at=times.now(),
                      base_url="http://127.0.0.1:8000", stream_token=ids.url_token())


async def _per_call(times_: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Microseconds of CPU per call."""
    began = time.process_time()
    for index in range(times_):
        await call(index)
    return (time.process_time() - began) / times_ * 1e6


async def _round(calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "replicast.db")
        await store.open()
        try:
            account = (await store.accounts.ensure_account("bench")).id
            made = [_prediction(account) for _ in range(calls)]
            starting = frozenset({Status.STARTING})
            return {
                "insert": await _per_call(calls, lambda i: store.predictions.insert(made[i])),
                "get": await _per_call(calls, lambda i: store.predictions.get(made[i].id)),
                "status update": await _per_call(calls, lambda i: store.predictions.update(
                    made[i].id, starting, Change(status=Status.PROCESSING))),
                "page of 100": await _per_call(max(1, calls // 20), lambda i: (
                    store.predictions.page(PageQuery(account, limit=100)))),
            }
        finally:
            await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--calls", type=int, default=4000, help="predictions per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = [asyncio.run(_round(args.calls)) for _ in range(args.rounds)]
    print("| call | CPU µs, median | rounds |\n| --- | --- | --- |")
    for name in CALLS:
        values = [r[name] for r in rounds]
        print(f"| {name} | {statistics.median(values):.1f} | "
              f"{', '.join(f'{v:.0f}' for v in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
