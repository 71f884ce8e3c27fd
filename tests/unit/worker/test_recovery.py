"""Putting back what a stopped process left unfinished, routed models included."""

from __future__ import annotations

from replicast.broker.memory import MemoryBroker
from replicast.errors import Unavailable
from replicast.models.registry import Registry
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from replicast.store.sqlite.store import SQLiteStore
from replicast.worker.recovery import recover
from tests.contract.store.rows import make


class DownResolver:
    """A gateway whose upstream does not answer yet."""

    hooks = None

    def covers(self, full_name: str) -> bool:
        return full_name.startswith("up/")

    async def resolve(self, full_name: str):
        if not self.covers(full_name):
            return None
        raise Unavailable(f"{full_name}: the upstream does not answer")

    def exact_names(self) -> tuple[str, ...]:
        return ()


async def test_routed_predictions_wait_for_their_upstream_and_others_are_failed(tmp_path):
    store = SQLiteStore(tmp_path / "replicast.db")
    await store.open()
    broker = MemoryBroker()
    lifecycle = Lifecycle(store.predictions, broker)
    account = await store.accounts.ensure_account("alice")
    waiting = make(account.id, model="up/model", upstream_id="up-1")
    running = make(account.id, model="up/model", upstream_id="up-2")
    unknown = make(account.id, model="gone/model")
    for prediction in (waiting, running, unknown):
        await store.predictions.insert(prediction)
    await store.predictions.update(running.id, frozenset({Status.STARTING}),
                                   Change(status=Status.PROCESSING, next_attempt=True,
                                          worker_id="w-1"))
    later: list[str] = []
    try:
        queued = await recover(store, lifecycle, Registry([], resolver=DownResolver()), broker,
                               max_attempts=3, later=later.append)
        assert queued == 2 and later == ["up/model", "up/model"]
        for prediction in (waiting, running):
            kept = await store.predictions.get(prediction.id)
            assert kept.status is Status.STARTING and kept.upstream_id == prediction.upstream_id
        assert {await broker.dequeue("up/model") for _ in range(2)} == {waiting.id, running.id}
        failed = await store.predictions.get(unknown.id)
        assert failed.status is Status.FAILED and "no longer served" in failed.error
    finally:
        await store.close()


async def test_each_interruption_leaves_its_note_and_only_the_last_runs_logs_stay(tmp_path):
    from tests.support.harness import Harness, model

    async def ok(context, inputs):
        return "ok"

    h = await Harness(tmp_path, [model("t/ok", ok)], max_attempts=5).open(worker=False)
    try:
        p = await h.create("t/ok")
        for attempt in (1, 2):  # run, write some logs, and be interrupted: twice
            started = await h.lifecycle.start(p.id, f"worker-{attempt}", 30)
            await h.store.predictions.update(p.id, frozenset({Status.PROCESSING}),
                                             Change(append_logs=f"run {attempt} was here\n"))
            assert await recover(h.store, h.lifecycle, h.registry, h.broker,
                                 max_attempts=5) == 1
            assert started.attempt == attempt
        again = await h.store.predictions.get(p.id)
    finally:
        await h.close()
    assert again.logs.splitlines() == [
        "Replicast stopped while this prediction was running (attempt 1 of 5); it will run "
        "again from the start.",
        "Replicast stopped while this prediction was running (attempt 2 of 5); it will run "
        "again from the start."]
