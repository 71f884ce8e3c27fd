"""Copying a routed model's output file ends: by the route's download deadline, retries
included, or below the minimum rate."""

from __future__ import annotations

import asyncio
import time

import pytest

from replicast import downloads
from replicast.errors import UpstreamError
from replicast.gateway.client import UpstreamClient
from replicast.gateway.routing import UpstreamRoute
from tests.support.trickle import Trickle


@pytest.fixture
def trickle():
    server = Trickle(interval=0.2, size=1000)
    yield server
    server.close()


def _client(trickle: Trickle, *, min_rate: int = 0, **options) -> UpstreamClient:
    route = UpstreamRoute(("a/*",), f"http://127.0.0.1:{trickle.port}", "T",
                          token="r8_x" * 5, **options)
    return UpstreamClient(route, allow_private=False, min_rate=min_rate)


async def test_an_output_file_that_trickles_in_ends_at_the_download_deadline(trickle):
    # Each byte comes far within the per-request timeout.
    upstream = _client(trickle, download_timeout=1.5, timeout=30, retries=3)
    began = time.monotonic()
    try:
        with pytest.raises(UpstreamError) as raised:
            await upstream.download(trickle.url("outputs/a.png"), 10**6)
    finally:
        await upstream.close()
    assert str(raised.value).endswith("the download took longer than 1.5 s")
    assert 1.4 < time.monotonic() - began < 3
    assert trickle.connections == 1  # a deadline is not tried again
    assert await asyncio.to_thread(trickle.closed.wait, 5)


async def test_an_output_file_below_the_minimum_rate_ends_early(trickle, monkeypatch):
    monkeypatch.setattr(downloads, "GRACE", 0.5)
    upstream = _client(trickle, min_rate=100)
    began = time.monotonic()
    try:
        with pytest.raises(UpstreamError, match="slower than 100 bytes a second"):
            await upstream.download(trickle.url("outputs/a.png"), 10**6)
    finally:
        await upstream.close()
    assert time.monotonic() - began < 2
