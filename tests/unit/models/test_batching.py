"""The batching queue: which predictions share the next pipeline call, and in what order."""

from __future__ import annotations

import asyncio
import random

import pytest

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.models import registry
from replicast.models.batching import Batcher, BatchLimits, BatchQueue
from replicast.models.catalog import flux1, flux2, lora

SMALL, LARGE = 512 * 512, 1024 * 1024


def test_the_oldest_item_leads_and_takes_the_oldest_of_its_key_that_fit():
    queue: BatchQueue[str] = BatchQueue(BatchLimits(max_size=3, max_pixels=3 * SMALL))
    for name, key, cost in [("a1", "512", SMALL), ("b1", "1024", LARGE), ("a2", "512", SMALL),
                            ("a3", "512", 2 * SMALL), ("a4", "512", SMALL),
                            ("a5", "512", SMALL), ("n1", None, SMALL), ("n2", None, SMALL)]:
        queue.put(name, key, cost)
    # a3 (two images) does not fit beside a1 and a2; a4 does; then three is the most.
    assert queue.take() == ["a1", "a2", "a4"]
    assert queue.take() == ["b1"]
    assert queue.take() == ["a3", "a5"]
    assert queue.take() == ["n1"]  # no key: always alone
    assert queue.take() == ["n2"]
    assert queue.take() == []


def test_an_item_over_the_budget_runs_alone():
    queue: BatchQueue[str] = BatchQueue(BatchLimits(max_pixels=SMALL))
    queue.put("big", "k", 4 * LARGE)
    queue.put("small", "k", SMALL)
    assert queue.take() == ["big"]
    assert queue.take() == ["small"]


def test_a_discarded_item_is_not_taken():
    queue: BatchQueue[str] = BatchQueue(BatchLimits())
    for name in "abc":
        queue.put(name, "k", SMALL)
    assert queue.discard("b") and not queue.discard("b")
    assert queue.take() == ["a", "c"]


@pytest.mark.parametrize("seed", range(40))
def test_no_item_waits_behind_more_than_one_batch_of_another_key(seed):
    """Items of three sizes come at random while calls run. Each call is led by the oldest
    waiting item; with room for every waiting item of a key in one call, no item is
    passed by a call of its own key, nor by two calls of another."""
    rng = random.Random(seed)
    queue: BatchQueue[tuple[int, str]] = BatchQueue(BatchLimits(max_size=1000,
                                                                max_pixels=10**12))
    waiting: list[tuple[int, str]] = []
    passed_by: dict[tuple[int, str], list[str]] = {}
    for tick in range(60):
        for _ in range(rng.randrange(0, 5) if tick < 50 else 0):
            item = (len(passed_by), rng.choice(["256", "512", "1024"]))
            queue.put(item, item[1], SMALL)
            waiting.append(item)
            passed_by[item] = []
        batch = queue.take()
        if not waiting:
            assert batch == []
            continue
        assert batch[0] == waiting[0]
        assert {key for _, key in batch} == {batch[0][1]}
        for item in waiting:
            if item not in batch:
                passed_by[item].append(batch[0][1])
        waiting = [item for item in waiting if item not in batch]
    assert waiting == [] and len(queue) == 0
    for (_, key), keys in passed_by.items():
        assert key not in keys
        assert len(keys) == len(set(keys)) <= 2


def test_with_a_stream_of_one_size_another_size_waits_one_call():
    queue: BatchQueue[str] = BatchQueue(BatchLimits(max_size=2))
    queue.put("a0", "a", SMALL)
    queue.put("b", "b", LARGE)
    taken = []
    for n in range(1, 6):  # two more of size a come while each call runs
        queue.put(f"a{2 * n - 1}", "a", SMALL)
        queue.put(f"a{2 * n}", "a", SMALL)
        taken.append(queue.take())
    assert taken[:2] == [["a0", "a1"], ["b"]]


class Device:
    """A ``run`` for ``Batcher`` that records its batches and holds each until let go."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.fail: Exception | None = None

    async def run(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        self.started.set()
        await self.go.wait()
        self.go.clear()
        self.started.clear()
        if self.fail is not None:
            raise self.fail
        return [item.upper() for item in items]


async def test_an_idle_device_starts_the_first_at_once_and_gathers_the_next_meanwhile():
    device = Device()
    batcher: Batcher[str, str] = Batcher(BatchLimits(), device.run)
    first = asyncio.create_task(batcher.submit("a", "k", 1))
    await device.started.wait()
    assert device.batches == [["a"]]  # it did not wait for company
    later = [asyncio.create_task(batcher.submit(x, "k", 1)) for x in "bc"]
    odd = asyncio.create_task(batcher.submit("d", "other", 1))
    await asyncio.sleep(0)
    device.go.set()
    assert await first == "A"
    await device.started.wait()
    device.go.set()
    assert await asyncio.gather(*later) == ["B", "C"]
    await device.started.wait()
    device.go.set()
    assert await odd == "D"
    assert device.batches == [["a"], ["b", "c"], ["d"]]


async def test_a_canceled_submit_leaves_its_batch_or_the_queue_and_the_others_go_on():
    device = Device()
    batcher: Batcher[str, str] = Batcher(BatchLimits(), device.run)
    running = [asyncio.create_task(batcher.submit(x, "k", 1)) for x in "ab"]
    await device.started.wait()
    waiting = [asyncio.create_task(batcher.submit(x, "k", 1)) for x in "cd"]
    await asyncio.sleep(0)
    running[0].cancel()
    waiting[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await running[0]  # at once: its batch still runs
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
    device.go.set()
    assert await running[1] == "B"
    await device.started.wait()
    device.go.set()
    assert await waiting[1] == "D"
    assert device.batches == [["a", "b"], ["d"]]


async def test_a_failed_call_fails_its_items_only():
    device = Device()
    batcher: Batcher[str, str] = Batcher(BatchLimits(), device.run)
    failing = [asyncio.create_task(batcher.submit(x, "k", 1)) for x in "ab"]
    await device.started.wait()
    after = asyncio.create_task(batcher.submit("c", "k", 1))
    await asyncio.sleep(0)
    device.fail = RuntimeError("out of memory")
    device.go.set()
    for task in failing:
        with pytest.raises(RuntimeError, match="out of memory"):
            await task
    device.fail = None
    await device.started.wait()
    device.go.set()
    assert await after == "C"


def real_runners(monkeypatch, tmp_path, **settings):
    real = registry.status

    def present(weights_dir, model):
        found = real(weights_dir, model)
        return type(found)(found.model, found.folder, True, True)

    monkeypatch.setattr(registry, "status", present)
    chosen = Settings(data_dir=tmp_path, weights_dir=tmp_path, load_models="first-use",
                      **settings)
    return {m.full_name: m.runner for m in registry.builtin_models(chosen)}


def test_the_settings_batch_the_real_runners_with_slots_for_two_batches(monkeypatch,
                                                                         tmp_path):
    runners = real_runners(monkeypatch, tmp_path, max_batch=4, max_batch_pixels=SMALL)
    for model in (flux1.DEV, flux1.SCHNELL, flux2.KLEIN_4B):
        assert runners[model].batching == BatchLimits(max_size=4, max_pixels=SMALL)
        assert runners[model].concurrency == 8  # a batch runs while the next gathers
    assert runners[lora.DEV_LORA].concurrency == 8  # on flux-dev's slots
    off = real_runners(monkeypatch, tmp_path, batching=False)
    assert off[flux1.DEV].batching is None
    assert off[flux1.DEV].concurrency == off[lora.DEV_LORA].concurrency == 2


def test_batching_is_read_from_the_environment(tmp_path):
    env = {"REPLICAST_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).batching is True
    read = Settings.from_env({**env, "REPLICAST_BATCHING": "off", "REPLICAST_MAX_BATCH": "3",
                              "REPLICAST_MAX_BATCH_PIXELS": "1048576"})
    assert (read.batching, read.max_batch, read.max_batch_pixels) == (False, 3, 1048576)
    with pytest.raises(ConfigError, match="REPLICAST_MAX_BATCH='0'"):
        Settings.from_env({**env, "REPLICAST_MAX_BATCH": "0"})
