"""Leases: renewing this worker's claims and taking back a dead worker's."""

from __future__ import annotations

from datetime import timedelta

from replicast import times
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from replicast.worker.leases import Leases
from tests.support.harness import Harness, model


async def ok(context, inputs):
    return "ok"


async def test_a_dead_workers_predictions_go_back_to_the_queue_or_fail(tmp_path):
    h = await Harness(tmp_path, [model("t/ok", ok)], max_attempts=2).open(worker=False)
    try:
        lost = await h.create("t/ok")
        spent = await h.create("t/ok")
        mine = await h.create("t/ok")
        await h.lifecycle.start(lost.id, "dead", -1)
        await h.lifecycle.start(mine.id, "alive", -1)
        for _ in range(2):  # two runs already
            taken = await h.lifecycle.start(spent.id, "dead", -1)
            if taken.attempt < 2:
                await h.store.predictions.update(
                    spent.id, frozenset({Status.PROCESSING}),
                    Change(status=Status.STARTING, worker_id=None, lease_until=None))
        alive = Leases(h.store.runs, h.lifecycle, h.broker, worker_id="alive", models=("t/ok",),
                       lease=30, max_attempts=2)
        alive.hold(await h.store.predictions.get(mine.id))
        await alive.heartbeat()  # renews its own claim only
        assert (await h.store.predictions.get(mine.id)).lease_until > times.now()
        assert await alive.reap() == 2
        requeued = await h.store.predictions.get(lost.id)
        assert requeued.status is Status.STARTING and requeued.worker_id is None
        assert requeued.logs.startswith("The worker running this prediction stopped answering "
                                        "(attempt 1 of 2)")
        assert await h.broker.dequeue("t/ok") == lost.id
        failed = await h.store.predictions.get(spent.id)
        assert failed.status is Status.FAILED and "stopped answering, 2 time(s)" in failed.error
        assert (await h.store.predictions.get(mine.id)).status is Status.PROCESSING
        [entry] = await h.store.runs.list_workers()
        assert entry.id == "alive" and entry.models == ("t/ok",)
        await alive.stop()
        assert await h.store.runs.list_workers() == []
    finally:
        await h.close()


async def test_a_worker_whose_claim_lapsed_cannot_finish_the_run(tmp_path):
    h = await Harness(tmp_path, [model("t/ok", ok)]).open(worker=False)
    try:
        p = await h.create("t/ok")
        started = await h.lifecycle.start(p.id, "slow", -1)
        reaper = Leases(h.store.runs, h.lifecycle, h.broker, worker_id="other", models=(),
                        lease=30, max_attempts=3)
        assert await reaper.reap() == 1
        retaken = await h.lifecycle.start(p.id, "other", 30)
        # The first worker wakes up and tries to write: refused, the new run stands.
        assert await h.lifecycle.persist(started, "late\n", logs_length=0,
                                         items_length=0) is False
        assert await h.lifecycle.succeed(started, "stale") is None
        assert (await h.lifecycle.succeed(retaken, "fresh")).output == "fresh"
    finally:
        await h.close()


async def test_the_overdue_sweep_stops_predictions_no_process_watches(tmp_path, monkeypatch):
    import sqlite3

    from replicast.predictions import deadlines
    from replicast.predictions.deadlines import Deadlines

    monkeypatch.setattr(deadlines, "SWEEP_SECONDS", 0.05)
    h = await Harness(tmp_path, [model("t/ok", ok)]).open(worker=False)
    sweeper = Deadlines(h.store.runs, h.lifecycle, sweep=True)
    try:
        await sweeper.start()
        p = await h.create("t/ok")
        # Its deadline, set by a process that is gone: nobody here has it in memory.
        with sqlite3.connect(tmp_path / "replicast.db") as c:
            c.execute("UPDATE predictions SET deadline = ? WHERE id = ?",
                      (times.format_rfc3339(times.now() - timedelta(seconds=5)), p.id))
        aborted = await h.until(p.id, lambda q: q.terminal)
        assert aborted.status is Status.ABORTED
    finally:
        await sweeper.stop()
        await h.close()
