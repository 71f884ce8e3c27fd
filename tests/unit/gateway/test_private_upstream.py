"""An upstream on a private network: its API and its own files are reached, nothing else.

The route's base URL is the operator's choice, so its origin is reached at whatever
address its name resolves to, following no redirect; output URLs anywhere else go
through the guard, however private the route's own address is.
"""

from __future__ import annotations

import socket

import pytest

from replicast.errors import UpstreamError
from replicast.gateway.client import UpstreamClient
from replicast.gateway.routing import UpstreamRoute
from tests.support.listener import Listener


@pytest.fixture
def listener():
    listening = Listener("0.0.0.0")
    yield listening
    listening.close()


@pytest.fixture
def elsewhere():
    """Another service on the same private network (here, the same machine)."""
    listening = Listener("127.0.0.1")
    yield listening
    listening.close()


def _client(base_url: str, *, allow_private: bool = False,
            waits: list[float] | None = None) -> UpstreamClient:
    route = UpstreamRoute(("a/*",), base_url, "T", token="r8_x" * 5,
                          retries=0 if waits is None else 3)

    async def sleep(seconds: float) -> None:
        assert waits is not None
        waits.append(seconds)

    return UpstreamClient(route, allow_private=allow_private, sleep=sleep)


@pytest.fixture
async def named(listener):
    hostname = socket.gethostname()  # a name, not "localhost": resolves to this machine
    upstream = _client(f"http://{hostname}:{listener.port}")
    yield upstream, hostname
    await upstream.close()


async def test_the_upstreams_api_and_own_files_are_reached(named, listener):
    upstream, hostname = named
    data = await upstream.download(f"http://{hostname}:{listener.port}/outputs/a.png", 10**6)
    assert data.startswith(b"\x89PNG") and listener.connections == 1
    # The API is reached too (the listener answers an image, not a prediction).
    with pytest.raises(UpstreamError) as raised:
        await upstream.get("some-id")
    assert "other than a JSON object" in str(raised.value)
    assert listener.connections == 2


async def test_files_elsewhere_on_the_private_network_are_still_refused(named, listener):
    upstream, _ = named
    with pytest.raises(UpstreamError) as raised:
        await upstream.download(f"http://127.0.0.1:{listener.port}/a.png", 10**6)
    assert "127.0.0.1" in str(raised.value)
    assert listener.connections == 0


async def test_a_route_to_a_private_address_opens_that_origin_only(listener, elsewhere):
    waits: list[float] = []
    upstream = _client(f"http://127.0.0.1:{listener.port}", waits=waits)
    try:
        own = await upstream.download(f"http://127.0.0.1:{listener.port}/outputs/a.png", 10**6)
        assert own.startswith(b"\x89PNG") and listener.connections == 1
        # The same address on another port is another service: the guard refuses it.
        for url in (f"http://127.0.0.1:{elsewhere.port}/metrics",
                    f"http://localhost:{elsewhere.port}/a.png"):
            with pytest.raises(UpstreamError, match="not a public address"):
                await upstream.download(url, 10**6)
    finally:
        await upstream.close()
    assert elsewhere.connections == 0
    assert waits == []  # a refusal is final: not tried again


async def test_no_redirect_is_followed_from_the_upstreams_own_origin(elsewhere):
    redirector = Listener("127.0.0.1", redirect_to=f"http://127.0.0.1:{elsewhere.port}/x")
    upstream = _client(f"http://127.0.0.1:{redirector.port}")
    try:
        with pytest.raises(UpstreamError, match="HTTP 302"):
            await upstream.download(f"http://127.0.0.1:{redirector.port}/outputs/a.png",
                                    10**6)
    finally:
        await upstream.close()
        redirector.close()
    assert redirector.connections == 1 and elsewhere.connections == 0


async def test_link_local_outputs_are_refused_even_where_private_ones_are_allowed(elsewhere):
    upstream = _client(f"http://127.0.0.1:{elsewhere.port}", allow_private=True)
    try:
        for url in ("http://169.254.169.254/latest/meta-data/iam/",
                    "http://[fe80::1]/a.png", "http://[::ffff:169.254.169.254]/"):
            with pytest.raises(UpstreamError, match="never reached"):
                await upstream.download(url, 10**6)
        # Loopback elsewhere is allowed by the setting.
        assert (await upstream.download(f"http://localhost:{elsewhere.port}/a.png", 10**6)
                ).startswith(b"\x89PNG")
    finally:
        await upstream.close()
