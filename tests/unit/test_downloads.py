"""Downloads end: by their deadline, below their minimum rate, past their size."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from replicast import downloads
from replicast.errors import ModelError
from replicast.input_fetch import InputFetcher
from tests.support.trickle import Trickle, moments_left_open


@pytest.fixture
def trickle():
    server = Trickle(interval=0.2, size=1000)
    yield server
    server.close()


async def fetch(limits: downloads.Limits, url: str) -> bytes:
    async with httpx.AsyncClient(timeout=30) as client, \
            downloads.within(limits) as budget, client.stream("GET", url) as response:
        return await downloads.collect(budget, response)


async def test_a_body_that_trickles_in_ends_at_the_deadline(trickle):
    # Each byte comes well within any read timeout; the whole never would.
    began = time.monotonic()
    with pytest.raises(downloads.TooSlow, match=r"took longer than 1\.5 s"):
        await fetch(downloads.Limits(10_000, 1.5), trickle.url())
    assert 1.4 < time.monotonic() - began < 3
    assert await asyncio.to_thread(trickle.closed.wait, 5)  # the connection was dropped


async def test_a_body_below_the_minimum_rate_ends_after_the_grace(trickle, monkeypatch):
    monkeypatch.setattr(downloads, "GRACE", 0.5)
    began = time.monotonic()
    with pytest.raises(downloads.TooSlow, match="slower than 100 bytes a second"):
        await fetch(downloads.Limits(10_000, 60, min_rate=100), trickle.url())
    # Behind once 0.5 s + received / 100 s have passed: about 0.55 s in.
    assert time.monotonic() - began < 2
    assert await asyncio.to_thread(trickle.closed.wait, 5)


async def test_a_body_at_the_rate_is_taken(monkeypatch):
    monkeypatch.setattr(downloads, "GRACE", 0.2)
    server = Trickle(interval=0.01, size=30)  # ~100 bytes a second
    try:
        data = await fetch(downloads.Limits(10_000, 10, min_rate=20), server.url())
    finally:
        server.close()
    assert data == b"x" * 30


async def test_a_body_past_the_size_ends_at_once(trickle):
    with pytest.raises(downloads.TooLarge):  # declared 1000 bytes: not even started
        await fetch(downloads.Limits(999, 10), trickle.url())
    assert trickle.sent == 0


async def test_input_files_are_fetched_within_their_deadline(trickle, tmp_path):
    fetcher = InputFetcher(max_bytes=10_000, timeout=1, allow_private=True)
    try:
        with pytest.raises(ModelError) as raised:
            await fetcher.fetch(trickle.url())
        assert str(raised.value) == f"Fetching {trickle.url()} took longer than 1 s"
        with pytest.raises(ModelError, match="took longer than 1 s"):
            await fetcher.fetch_to(trickle.url(), tmp_path / "slow.png")
    finally:
        await fetcher.close()


async def test_input_files_are_written_to_disk_as_they_come(tmp_path):
    server = Trickle(interval=0, size=3 * 1024 * 1024 + 5, chunk=65536)
    fetcher = InputFetcher(max_bytes=4 * 1024 * 1024, timeout=30, allow_private=True)
    try:
        size = await fetcher.fetch_to(server.url(), tmp_path / "big.bin")
        assert size == server.size == (tmp_path / "big.bin").stat().st_size
        assert await fetcher.fetch_to("data:,hello", tmp_path / "small.txt") == 5
        assert (tmp_path / "small.txt").read_bytes() == b"hello"
    finally:
        await fetcher.close()
        server.close()


async def test_a_download_canceled_at_any_moment_hangs_up(tmp_path):
    # A cancel landing inside httpx while it set up the request left the connection open in
    # its pool: the server went on sending (in about one try in thirty before).
    fetcher = InputFetcher(max_bytes=1_000_000, timeout=5, allow_private=True)
    tries = iter(range(1000))
    try:
        left_open = await moments_left_open(
            lambda url: fetcher.fetch_to(url, tmp_path / f"{next(tries)}"))
    finally:
        await fetcher.close()
    assert left_open == []  # (the moments, in loop iterations after the accept)
