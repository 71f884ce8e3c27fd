"""The retention sweep: files first, then the row, and nothing before its time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from replicast import times
from replicast.broker.memory import MemoryBroker
from replicast.errors import StorageUnavailable
from replicast.outputs.base import OutputStore
from replicast.outputs.local import LocalOutputs
from replicast.predictions.retention import Retention
from replicast.predictions.status import Status
from replicast.store.sqlite.store import SQLiteStore
from tests.contract.store.rows import make


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    await store.open()
    yield store
    await store.close()


async def finished(store, outputs, minutes_ago: float, **fields):
    account = await store.accounts.ensure_account("alice")
    p = make(account.id, status=Status.SUCCEEDED,
             completed_at=times.now() - timedelta(minutes=minutes_ago), **fields)
    url = await outputs.save("http://h", p.id, "f", "out-0.png", b"png")
    p.output = [url]
    await store.predictions.insert(p)
    return p


async def test_data_past_retention_goes_and_its_files_with_it(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    old = await finished(store, outputs, 90)
    young = await finished(store, outputs, 10)
    retention = Retention(store.predictions, outputs, MemoryBroker(), retention=3600, interval=60)

    assert await retention.sweep() == 1
    assert not (tmp_path / "outputs" / old.id).exists()
    assert (tmp_path / "outputs" / young.id / "f" / "out-0.png").read_bytes() == b"png"
    gone = await store.predictions.get(old.id)
    assert (gone.output, gone.data_removed, gone.input) == (None, True, {})
    assert await retention.sweep() == 0
    # An hour on, the young one goes too.
    assert await retention.sweep(times.now() + timedelta(hours=1)) == 1
    assert not (tmp_path / "outputs" / young.id).exists()


async def test_zero_keeps_everything(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    p = await finished(store, outputs, 60 * 24 * 365)
    retention = Retention(store.predictions, outputs, MemoryBroker(), retention=0, interval=60)
    assert await retention.sweep() == 0
    assert (await store.predictions.get(p.id)).data_removed is False


async def test_a_prediction_whose_files_could_not_be_deleted_is_tried_again(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    p = await finished(store, outputs, 90)

    class Failing(LocalOutputs):
        async def remove_many(self, prediction_ids):
            raise OSError("disk says no")

    with pytest.raises(OSError):
        await Retention(store.predictions, Failing(outputs.root), MemoryBroker(), retention=3600,
                        interval=60).sweep()
    # The row still says the data is there, so the next sweep deletes the files.
    assert (await store.predictions.get(p.id)).data_removed is False
    assert await Retention(store.predictions, outputs, MemoryBroker(), retention=3600,
                           interval=60).sweep() == 1
    assert not (tmp_path / "outputs" / p.id).exists()


async def test_the_other_sweep_runs_alongside(store, tmp_path):
    seen = []

    async def also(now):
        seen.append(now)
        return 0

    retention = Retention(store.predictions, LocalOutputs(tmp_path), MemoryBroker(), retention=0,
                          interval=60, also=also)
    await retention.sweep()
    assert len(seen) == 1


async def test_files_the_bucket_will_not_delete_hold_back_only_their_prediction(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    stuck = await finished(store, outputs, 120)
    others = [await finished(store, outputs, 90) for _ in range(3)]

    class Refusing(LocalOutputs):
        remove_many = OutputStore.remove_many  # one by one, each through remove

        async def remove(self, prediction_id: str) -> None:
            if prediction_id == stuck.id:
                raise StorageUnavailable("cannot delete s3://b/outputs/x: AccessDenied")
            await super().remove(prediction_id)

    swept = []

    async def also(now):
        swept.append(now)
        raise StorageUnavailable("cannot delete s3://b/files/y: connection refused")

    retention = Retention(store.predictions, Refusing(outputs.root), MemoryBroker(),
                          retention=3600, interval=60, also=also)
    assert await retention.sweep() == 3
    assert swept  # the files' sweep ran, and its failure ended nothing
    assert (await store.predictions.get(stuck.id)).data_removed is False
    assert [(await store.predictions.get(p.id)).data_removed for p in others] == [True] * 3
    # Once the bucket lets it, the next sweep removes it.
    assert await Retention(store.predictions, outputs, MemoryBroker(), retention=3600,
                           interval=60).sweep() == 1


async def test_a_backlog_goes_in_batches_resting_between_them(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    for _ in range(250):
        await finished(store, outputs, 90)
    work: list[float] = []
    rests: list[float] = []
    removing = store.predictions.remove_data

    async def remove_data(ids_):
        began = asyncio.get_running_loop().time()
        await asyncio.sleep(0.02)  # a batch's work, made long enough to measure
        removed = await removing(ids_)
        work.append(asyncio.get_running_loop().time() - began)
        return removed

    async def rest(seconds):
        rests.append(seconds)

    store.predictions.remove_data = remove_data
    retention = Retention(store.predictions, outputs, MemoryBroker(), retention=3600,
                          interval=60, share=0.25)
    retention._rest = rest
    assert await retention.sweep() == 250
    assert len(work) == 3  # 100, 100, 50
    # After each full batch it rests three times as long as the batch took (a quarter
    # of the time working); after the last, nothing is left to rest for.
    assert len(rests) == 2
    for took, rested in zip(work, rests, strict=False):
        assert 3 * took <= rested <= 3 * took + 0.5


async def test_a_slow_batch_rests_no_longer_than_the_sweeps_interval(store, tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    for _ in range(150):
        await finished(store, outputs, 90)
    removing = store.predictions.remove_data

    async def slow(ids_):
        await asyncio.sleep(0.05)
        return await removing(ids_)

    rests: list[float] = []

    async def rest(seconds):
        rests.append(seconds)

    store.predictions.remove_data = slow
    retention = Retention(store.predictions, outputs, MemoryBroker(), retention=3600,
                          interval=0.1, share=0.01)  # 99 times the batch, but the interval
    retention._rest = rest
    assert await retention.sweep() == 150
    assert rests == [0.1]
