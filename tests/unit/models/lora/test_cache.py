"""The LoRA cache: by digest, found by source, fetched once, bounded, least recently used
out first."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat

import pytest

from replicast.models.lora.cache import LoraCache


def producer(data: bytes, calls: list[str], gate: asyncio.Event | None = None):
    async def produce(target):
        calls.append(target.name)
        if gate is not None:
            await gate.wait()
        with target.open("xb") as file:
            file.write(data)
        return hashlib.sha256(data).hexdigest()

    return produce


async def use(cache: LoraCache, key: str, produce):
    """Get a LoRA and load it at once, as a prediction does (its pin goes)."""
    found = await cache.get(key, produce)
    cache.unpin(found.digest)
    return found


async def test_a_source_is_fetched_once_and_found_again(tmp_path):
    cache = LoraCache(tmp_path / "loras", 1000)
    calls: list[str] = []
    first = await cache.get("https://x/a.safetensors", producer(b"a" * 10, calls))
    again = await cache.get("https://x/a.safetensors", producer(b"a" * 10, calls))
    assert len(calls) == 1
    assert (first.fetched, again.fetched) == (True, False)
    digest = hashlib.sha256(b"a" * 10).hexdigest()
    assert first.path == again.path == tmp_path / "loras" / f"{digest}.safetensors"
    assert first.path.read_bytes() == b"a" * 10
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "loras").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "loras").iterdir() if p.name.startswith(".partial")] == []


async def test_two_sources_of_the_same_bytes_share_one_file(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []
    a = await cache.get("https://x/a.safetensors?sig=1", producer(b"same", calls))
    b = await cache.get("https://x/a.safetensors?sig=2", producer(b"same", calls))
    upload = await cache.add(b"same")
    assert a.path == b.path == upload.path and not upload.fetched
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


async def test_concurrent_requests_for_one_source_fetch_it_once(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []
    gate = asyncio.Event()
    produce = producer(b"lora", calls, gate)
    waiting = [asyncio.create_task(cache.get("k", produce)) for _ in range(5)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*waiting)
    assert len(calls) == 1
    assert len({r.path for r in results}) == 1


async def test_a_fetch_goes_on_while_one_of_its_waiters_stays(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []
    gate = asyncio.Event()
    produce = producer(b"lora", calls, gate)
    leaving = asyncio.create_task(cache.get("k", produce))
    staying = asyncio.create_task(cache.get("k", produce))
    await asyncio.sleep(0.05)
    leaving.cancel()
    gate.set()
    assert (await staying).path.read_bytes() == b"lora"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_fetch_nobody_waits_for_stops(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def produce(target):
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()
        return "0" * 64

    waiter = asyncio.create_task(cache.get("k", produce))
    await started.wait()
    waiter.cancel()
    await asyncio.wait_for(stopped.wait(), 5)
    assert list(tmp_path.glob("*.safetensors")) == []


async def test_a_failed_fetch_leaves_nothing_and_is_tried_again(tmp_path):
    cache = LoraCache(tmp_path, 1000)

    async def broken(target):
        target.write_bytes(b"half")
        raise ValueError("not a LoRA")

    with pytest.raises(ValueError, match="not a LoRA"):
        await cache.get("k", broken)
    assert os.listdir(tmp_path) == []
    calls: list[str] = []
    assert (await cache.get("k", producer(b"good", calls))).fetched


async def test_past_its_bound_the_least_recently_used_go(tmp_path):
    cache = LoraCache(tmp_path, 35)  # three files of 10 bytes fit, four do not
    calls: list[str] = []
    for name in "abc":
        await use(cache, name, producer(name.encode() * 10, calls))
        await asyncio.sleep(0.01)  # distinct use times
    await use(cache, "a", producer(b"a" * 10, calls))  # used again: b is now the oldest
    await asyncio.sleep(0.01)
    await use(cache, "d", producer(b"d" * 10, calls))
    assert sorted(p.read_bytes()[:1] for p in tmp_path.glob("*.safetensors")) == [b"a", b"c",
                                                                                 b"d"]
    assert len(calls) == 4
    await use(cache, "b", producer(b"b" * 10, calls))  # gone: fetched again
    assert len(calls) == 5
    assert len(os.listdir(tmp_path / "index")) == 3  # b's old entry went with its file


async def test_a_pinned_lora_is_not_evicted(tmp_path):
    cache = LoraCache(tmp_path, 25)
    calls: list[str] = []
    await use(cache, "a", producer(b"a" * 10, calls))
    await asyncio.sleep(0.01)
    await use(cache, "b", producer(b"b" * 10, calls))
    a = await cache.get("a", producer(b"a" * 10, calls))  # found and pinned: being loaded
    await use(cache, "c", producer(b"c" * 10, calls))
    assert a.path.exists()
    cache.unpin(a.digest)
    assert cache.pinned == frozenset()
    assert sorted(p.read_bytes()[:1] for p in tmp_path.glob("*.safetensors")) == [b"a", b"c"]


async def test_each_caller_holds_its_own_pin(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []
    gate = asyncio.Event()
    produce = producer(b"lora", calls, gate)
    waiting = [asyncio.create_task(cache.get("k", produce)) for _ in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    found = await asyncio.gather(*waiting)
    upload = await cache.add(b"lora")
    digest = found[0].digest
    for _ in range(4):
        assert cache.pinned == {digest}
        cache.unpin(digest)
    assert cache.pinned == frozenset() and upload.digest == digest


async def test_a_lora_fetched_is_pinned_before_another_fetch_can_evict_it(tmp_path):
    cache = LoraCache(tmp_path, 15)  # one file of 10 bytes fits
    calls: list[str] = []
    gate = asyncio.Event()
    a_task = asyncio.create_task(cache.get("a", producer(b"a" * 10, calls)))
    b_task = asyncio.create_task(cache.get("b", producer(b"b" * 10, calls, gate)))
    a = await a_task
    gate.set()
    b = await b_task  # its commit wanted a gone, but a is pinned until loaded
    assert a.path.read_bytes() == b"a" * 10 and b.path.read_bytes() == b"b" * 10
    cache.unpin(a.digest)
    cache.unpin(b.digest)
    await use(cache, "c", producer(b"c" * 10, calls))
    assert [p.read_bytes()[:1] for p in tmp_path.glob("*.safetensors")] == [b"c"]


async def test_a_lora_evicted_before_a_waiter_could_pin_it_is_fetched_again(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []

    produce = producer(b"lora", calls)
    real_commit = cache._commit

    def commit_then_lose(partial, digest, key, pin=False):
        found = real_commit(partial, digest, key, pin=pin)
        if len(calls) == 1:  # removed between the fetch and the waiter's pin
            found.path.unlink()
        return found

    cache._commit = commit_then_lose
    found = await cache.get("k", produce)
    assert len(calls) == 2 and found.path.read_bytes() == b"lora" and found.fetched
    assert cache.pinned == {found.digest}


async def test_a_waiter_after_a_canceled_fetch_starts_afresh(tmp_path):
    cache = LoraCache(tmp_path, 1000)
    calls: list[str] = []
    started = asyncio.Event()

    async def slow(target):
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.3)  # a download takes a while to unwind
        return "0" * 64

    leaving = asyncio.create_task(cache.get("k", slow))
    await started.wait()
    leaving.cancel()
    # at once, before the canceled fetch has unwound: a new request must not join it
    found = await asyncio.wait_for(cache.get("k", producer(b"lora", calls)), 5)
    assert found.path.read_bytes() == b"lora"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_partial_files_a_stopped_process_left_are_removed(tmp_path):
    tmp_path.joinpath(".partial-old").write_bytes(b"x")
    os.utime(tmp_path / ".partial-old", (0, 0))
    tmp_path.joinpath(".partial-new").write_bytes(b"x")  # perhaps another process's, now
    cache = LoraCache(tmp_path, 100, partial_age=60)
    await cache.add(b"lora")
    assert sorted(p.name for p in tmp_path.glob(".partial-*")) == [".partial-new"]


async def test_an_upload_that_is_refused_is_not_kept(tmp_path):
    cache = LoraCache(tmp_path, 100)

    def refuse(path):
        assert path.read_bytes() == b"not a lora"
        raise ValueError("no LoRA")

    with pytest.raises(ValueError, match="no LoRA"):
        await cache.add(b"not a lora", refuse)
    assert os.listdir(tmp_path) == []
    kept = await cache.add(b"lora", lambda path: None)
    assert kept.path.read_bytes() == b"lora"
