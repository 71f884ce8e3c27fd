"""The runs repository's contract (and the store's ping): what every store backend must do."""

from __future__ import annotations

from datetime import timedelta

from replicast import times
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from tests.contract.store.rows import make


async def test_unfinished_predictions_oldest_first(store, account):
    base = times.now()
    starting = make(account.id, created_at=base + timedelta(seconds=2))
    processing = make(account.id, status=Status.PROCESSING, created_at=base)
    done = [make(account.id, status=s) for s in (Status.SUCCEEDED, Status.FAILED,
                                                  Status.CANCELED, Status.ABORTED)]
    for p in [starting, processing, *done]:
        await store.predictions.insert(p)
    assert [p.id for p in await store.runs.list_unfinished()] == [processing.id, starting.id]


async def test_renewing_moves_only_the_leases_named(store, account):
    now = times.now()
    running, finished = make(account.id), make(account.id)
    for p in (running, finished):
        await store.predictions.insert(p)
        await store.predictions.update(
            p.id, frozenset({Status.STARTING}),
            Change(status=Status.PROCESSING, started_at=now, worker_id="w1",
                   lease_until=now + timedelta(seconds=30)))
    # The worker still runs one; the other's run ended and its outcome is not written.
    assert await store.runs.renew_leases("w1", [running.id], now + timedelta(seconds=60)) == 1
    assert await store.runs.renew_leases("w1", [], now + timedelta(seconds=60)) == 0
    expired = await store.runs.expired_leases(now + timedelta(seconds=45), 10)
    assert [e.id for e in expired] == [finished.id]


async def test_claims_leases_and_guards(store, account):
    from replicast.store.predictions import Guard

    now = times.now()
    p = make(account.id)
    await store.predictions.insert(p)
    claimed = await store.predictions.update(
        p.id, frozenset({Status.STARTING}),
        Change(status=Status.PROCESSING, started_at=now, worker_id="w1",
               lease_until=now + timedelta(seconds=30)))
    assert claimed.worker_id == "w1" and claimed.lease_until == now + timedelta(seconds=30)
    processing = frozenset({Status.PROCESSING})
    # Another worker's write is refused; the owner's goes through.
    assert await store.predictions.update(p.id, processing, Change(append_logs="x"),
                                          guard=Guard(worker_id="w2")) is None
    assert (await store.predictions.update(p.id, processing, Change(append_logs="x"),
                                           guard=Guard(worker_id="w1"))).logs == "x"
    # Renewing moves the lease of what the worker runs, and only that.
    assert await store.runs.renew_leases("w1", [p.id], now + timedelta(seconds=60)) == 1
    assert await store.runs.renew_leases("w2", [p.id], now + timedelta(seconds=60)) == 0
    assert await store.runs.expired_leases(now + timedelta(seconds=59), 10) == []
    expired = await store.runs.expired_leases(now + timedelta(seconds=61), 10)
    assert [e.id for e in expired] == [p.id]
    # Taking it back works only once its lease has run out.
    back = Change(status=Status.STARTING, worker_id=None, lease_until=None, started_at=None)
    assert await store.predictions.update(
        p.id, processing, back,
        guard=Guard(lease_expired_before=now + timedelta(seconds=59))) is None
    returned = await store.predictions.update(
        p.id, processing, back, guard=Guard(lease_expired_before=now + timedelta(seconds=61)))
    assert returned.status is Status.STARTING and returned.worker_id is None
    # A terminal status clears the claim by itself.
    again = await store.predictions.update(
        p.id, frozenset({Status.STARTING}),
        Change(status=Status.PROCESSING, worker_id="w3", lease_until=now))
    assert again.worker_id == "w3"
    done = await store.predictions.update(p.id, processing, Change(status=Status.SUCCEEDED))
    assert done.worker_id is None and done.lease_until is None


async def test_waiting_and_overdue_predictions(store, account):
    now = times.now()
    old = make(account.id, model="a/x", created_at=now - timedelta(seconds=10),
               deadline=now - timedelta(seconds=1))
    young = make(account.id, model="a/x", created_at=now)
    other = make(account.id, model="b/y", created_at=now - timedelta(seconds=20))
    later = make(account.id, model="a/x", created_at=now - timedelta(seconds=5),
                 deadline=now + timedelta(minutes=5))
    running = make(account.id, model="a/x", created_at=now - timedelta(seconds=30),
                   status=Status.PROCESSING, deadline=now - timedelta(seconds=2))
    done = make(account.id, model="a/x", status=Status.SUCCEEDED,
                deadline=now - timedelta(seconds=3))
    for p in (old, young, other, later, running, done):
        await store.predictions.insert(p)
    cutoff = now - timedelta(seconds=1)
    assert await store.runs.list_waiting(["a/x"], cutoff, 10) == [(old.id, "a/x"),
                                                                  (later.id, "a/x")]
    assert await store.runs.list_waiting(["a/x", "b/y"], cutoff, 2) == [(other.id, "b/y"),
                                                                        (old.id, "a/x")]
    assert await store.runs.list_waiting([], cutoff, 10) == []
    assert sorted(await store.runs.waiting_models(10)) == ["a/x", "b/y"]
    assert len(await store.runs.waiting_models(1)) == 1
    assert await store.runs.list_overdue(now, 10) == [running.id, old.id]
    stats = {q.model: q for q in await store.runs.queue_stats()}
    assert stats["a/x"].waiting == 3 and stats["a/x"].oldest_created_at == old.created_at
    assert stats["b/y"].waiting == 1
    counts = await store.predictions.status_counts()
    assert counts[("a/x", "starting")] == 3 and counts[("a/x", "processing")] == 1
    assert counts[("a/x", "succeeded")] == 1


async def test_workers_report_themselves(store):
    from replicast.store.runs import WorkerInfo

    now = times.now()
    first = WorkerInfo("w1", "host-a", 10, ("a/x",), now, now)
    await store.runs.record_worker(first)
    await store.runs.record_worker(WorkerInfo("w2", "host-b", 11, ("a/x", "b/y"),
                                              now + timedelta(seconds=1), now))
    beat = WorkerInfo("w1", "host-a", 10, ("a/x",), now, now + timedelta(seconds=5))
    await store.runs.record_worker(beat)
    workers = await store.runs.list_workers()
    assert [w.id for w in workers] == ["w1", "w2"]
    assert workers[0] == beat and workers[1].models == ("a/x", "b/y")
    await store.runs.remove_worker("w1")
    assert [w.id for w in await store.runs.list_workers()] == ["w2"]
    await store.ping()
