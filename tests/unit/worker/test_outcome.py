"""A store that fails for a while: a run's outcome is kept until it can be recorded, a
start that failed is tried again, and output files nothing names are deleted."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from replicast import ids, times
from replicast.errors import DiskFull, StorageUnavailable, StoreUnavailable
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from replicast.worker import recovery
from replicast.worker.leases import Leases
from tests.support.harness import Harness, model


async def ok(context, inputs):
    url = await context.save_file("kept.txt", b"kept")
    context.log("working\n")
    return {"text": f"got {inputs['value']}", "file": url}


async def saves_two(context, inputs):
    await context.save_file("first.txt", b"1")
    await context.save_file("second.txt", b"2")
    return "never"


MODELS = [model("t/ok", ok), model("t/two", saves_two)]


class FailingWrites:
    """Makes ``store.predictions.update`` raise ``StoreUnavailable`` for the changes
    ``which`` picks while ``failing`` is set (as an outage would), noting each refusal."""

    def __init__(self, harness: Harness, which) -> None:
        self.failing = True
        self.refused = asyncio.Event()
        self.which = which
        real = harness.store.predictions.update

        async def update_prediction(prediction_id, expected, change, **kwargs):
            if self.failing and self.which(expected, change):
                self.refused.set()
                raise StoreUnavailable("PostgreSQL cannot be used now: connection refused")
            return await real(prediction_id, expected, change, **kwargs)

        harness.store.predictions.update = update_prediction


def final(expected, change) -> bool:
    return change.status is not None and change.status.terminal


def files_of(h: Harness, prediction_id: str) -> list[str]:
    folder = h.settings.data_dir / "outputs" / prediction_id
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


async def test_an_outcome_the_store_refuses_is_kept_and_recorded_once_it_can(tmp_path):
    h = await Harness(tmp_path, MODELS).open()
    writes = FailingWrites(h, final)
    try:
        p = await h.create("t/ok", input={"value": "x"})
        await asyncio.wait_for(writes.refused.wait(), 5)
        await asyncio.sleep(1.0)  # refused again meanwhile, with backoff
        waiting = await h.store.predictions.get(p.id)
        assert waiting.status is Status.PROCESSING
        # Its run is over: the heartbeat no longer renews its claim.
        before = waiting.lease_until
        await h.worker.leases.heartbeat()
        assert (await h.store.predictions.get(p.id)).lease_until == before
        writes.failing = False
        done = await h.until(p.id, lambda q: q.terminal, timeout=10)
    finally:
        await h.close()
    assert done.status is Status.SUCCEEDED and done.attempt == 1
    assert done.output["text"] == "got x" and done.logs == "working\n"
    assert done.worker_id is None and done.lease_until is None
    assert files_of(h, p.id) == ["kept.txt"]


async def test_an_outcome_whose_prediction_was_taken_back_is_dropped_with_its_files(
        tmp_path):
    h = await Harness(tmp_path, MODELS, lease_seconds=30).open()
    writes = FailingWrites(h, final)
    try:
        p = await h.create("t/ok", input={"value": "x"})
        await asyncio.wait_for(writes.refused.wait(), 5)
        assert files_of(h, p.id) == ["kept.txt"]
        # Its claim lapsed, and another worker took it back (it runs again).
        await h.store.predictions.update(p.id, frozenset({Status.PROCESSING}),
                                         Change(lease_until=times.now() - timedelta(seconds=1)))
        reaper = Leases(h.store.runs, h.lifecycle, h.broker, worker_id="other", models=("t/ok",),
                        lease=30, max_attempts=3)
        assert await reaper.reap() == 1
        writes.failing = False
        done = await h.until(p.id, lambda q: q.terminal, timeout=15)
    finally:
        await h.close(grace=10)  # the first run's last try finds it taken back
    assert done.status is Status.SUCCEEDED and done.attempt == 2
    assert done.logs.startswith("The worker running this prediction stopped answering")
    # The first run's file went with its outcome; the second run's is the one named.
    assert files_of(h, p.id) == ["kept.txt"]
    named = done.output["file"].split("/")[-2]
    assert (h.settings.data_dir / "outputs" / p.id / named / "kept.txt").is_file()


async def test_a_start_the_store_refused_is_tried_again(tmp_path):
    h = await Harness(tmp_path, MODELS).open()
    writes = FailingWrites(h, lambda expected, change: change.status is Status.PROCESSING)
    try:
        p = await h.create("t/ok", input={"value": "y"})
        await asyncio.wait_for(writes.refused.wait(), 5)
        writes.failing = False
        done = await h.until(p.id, lambda q: q.terminal, timeout=5)
    finally:
        await h.close()
    assert done.status is Status.SUCCEEDED and done.output["text"] == "got y"


async def test_a_prediction_waiting_in_no_queue_is_queued_again(tmp_path, monkeypatch):
    monkeypatch.setattr(recovery, "RESTORE_SECONDS", 0.1)
    monkeypatch.setattr(recovery, "_RESTORE_AFTER", timedelta(0))
    h = await Harness(tmp_path, MODELS).open()
    try:
        created = await h.create("t/ok", input={"value": "queued"})
        # Another like it, in the store but in no queue (as when a start failed).
        lost = dataclasses.replace(created, id=ids.prediction_id(),
                                   stream_token=ids.url_token())
        await h.store.predictions.insert(lost)
        done = await h.until(lost.id, lambda q: q.terminal, timeout=5)
    finally:
        await h.close()
    assert done.status is Status.SUCCEEDED and done.output["text"] == "got queued"


def second_save_fails(h: Harness, error: Exception) -> None:
    """Make the worker's second output file fail to save with ``error``."""
    real = h.worker.outputs.save
    saved = 0

    async def save(*args):
        nonlocal saved
        saved += 1
        if saved == 2:
            raise error
        return await real(*args)

    h.worker.outputs.save = save


async def test_files_saved_before_the_disk_filled_are_deleted(tmp_path):
    h = await Harness(tmp_path, MODELS).open()
    second_save_fails(h, DiskFull(f"the disk under {tmp_path} is full: cannot save the "
                                  "output file"))
    try:
        p = await h.create("t/two", wait=5)
    finally:
        await h.close()
    assert p.status is Status.FAILED
    assert p.error == "Replicast's disk is full: the output file second.txt could not be saved"
    assert files_of(h, p.id) == []


async def test_logs_whose_progress_write_fails_as_the_run_ends_reach_the_final_change(
        tmp_path):
    # A progress write is under way when the model returns; it then fails (an outage).
    # Its logs must come back for the final change rather than vanish with it.
    in_flight, release = asyncio.Event(), asyncio.Event()

    async def logs_then_returns(context, inputs):
        context.log("first\n")
        await asyncio.wait_for(in_flight.wait(), 5)
        context.log("last\n")
        return "done"

    h = await Harness(tmp_path, [model("t/logs", logs_then_returns)]).open()
    real = h.store.predictions.update

    async def update_prediction(prediction_id, expected, change, **kwargs):
        if change.status is None and change.append_logs:
            in_flight.set()
            await release.wait()
            raise StoreUnavailable("PostgreSQL cannot be used now: connection refused")
        return await real(prediction_id, expected, change, **kwargs)

    h.store.predictions.update = update_prediction
    try:
        p = await h.create("t/logs", input={})
        await asyncio.wait_for(in_flight.wait(), 5)
        await asyncio.sleep(0.3)  # the model returns while the write is still under way
        release.set()
        done = await h.until(p.id, lambda q: q.terminal, timeout=10)
    finally:
        await h.close()
    assert done.status is Status.SUCCEEDED
    assert done.logs == "first\nlast\n"


async def test_a_bucket_gone_midway_fails_the_prediction_and_leaves_it_nothing_stuck(tmp_path):
    # The second file cannot be saved, nor the first deleted: the outcome is recorded all
    # the same (retention deletes the file later), never a run left `processing`.
    h = await Harness(tmp_path, MODELS).open()
    second_save_fails(h, StorageUnavailable("cannot write s3://b/outputs/x: connection refused"))

    async def discard(*args):
        raise StorageUnavailable("cannot delete s3://b/outputs/x: connection refused")

    h.worker.outputs.discard = discard
    try:
        p = await h.create("t/two", wait=5)
    finally:
        await h.close()
    assert p.status is Status.FAILED and p.attempt == 1
    assert p.error == ("Replicast's file storage refused or did not answer: the output file "
                       "second.txt could not be saved")
    assert files_of(h, p.id) == ["first.txt"]
