"""Routed models' descriptions: cached ``schema_ttl`` seconds, kept while the upstream is down."""

from __future__ import annotations

import httpx
import pytest

from replicast.errors import Unavailable
from replicast.gateway.gateway import DOWN_SECONDS, Gateway
from replicast.gateway.routing import UpstreamRoute
from tests.unit.gateway.test_versions import LATEST, SCHEMA_NOW


class Upstream:
    def __init__(self) -> None:
        self.gets = 0
        self.down = False
        self.version = LATEST

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        self.gets += 1
        return httpx.Response(200, json={
            "owner": "acme", "name": "thing", "is_official": True,
            "latest_version": {"id": self.version, "created_at": "2026-11-01T00:00:00Z",
                               "openapi_schema": SCHEMA_NOW}})


@pytest.fixture
async def cache():
    now = [1000.0]
    route = UpstreamRoute(("acme/*",), "https://up.example", "T", token="r8_secret",
                          schema_ttl=60, retries=0)
    gateway = Gateway([route], allow_private=False, clock=lambda: now[0])
    upstream = Upstream()
    client = gateway._clients[route]
    await client._api.aclose()
    client._api = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    yield gateway, upstream, now
    await gateway.close()


async def test_a_description_is_used_until_its_ttl_then_fetched_again(cache):
    gateway, upstream, now = cache
    first = await gateway.resolve("acme/thing")
    now[0] += 59
    assert await gateway.resolve("acme/thing") is first and upstream.gets == 1
    upstream.version = "d" * 64  # a new version upstream
    now[0] += 2
    fresh = await gateway.resolve("acme/thing")
    assert upstream.gets == 2 and fresh.version_id == "d" * 64


async def test_an_upstream_down_after_the_ttl_leaves_the_last_description(cache):
    gateway, upstream, now = cache
    first = await gateway.resolve("acme/thing")
    upstream.down = True
    now[0] += 61
    assert await gateway.resolve("acme/thing") is first
    # Kept for another ttl before the upstream is asked again.
    upstream.down = False
    now[0] += 30
    assert await gateway.resolve("acme/thing") is first and upstream.gets == 1


async def test_an_upstream_never_reached_is_unavailable_without_waiting_on_it_again(cache):
    gateway, upstream, now = cache
    upstream.down = True
    with pytest.raises(Unavailable) as first:
        await gateway.resolve("acme/thing")
    assert "https://up.example" in first.value.detail
    upstream.down = False
    with pytest.raises(Unavailable):  # within DOWN_SECONDS: answered at once
        await gateway.resolve("acme/thing")
    assert upstream.gets == 0
    now[0] += DOWN_SECONDS + 0.1
    assert (await gateway.resolve("acme/thing")).version_id == LATEST
