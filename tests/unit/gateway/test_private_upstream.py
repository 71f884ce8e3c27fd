"""An upstream on a private network, named by DNS: reached, its own files too, nothing else.

The route's base URL is the operator's choice, so its host is reached at whatever
address its name resolves to; output URLs on other hosts still go through the guard.
"""

from __future__ import annotations

import socket

import pytest

from replicast.errors import UpstreamError
from replicast.gateway.client import UpstreamClient
from replicast.gateway.routes import Route
from tests.support.listener import Listener


@pytest.fixture
def listener():
    listening = Listener("0.0.0.0")
    yield listening
    listening.close()


@pytest.fixture
async def client(listener):
    hostname = socket.gethostname()  # a name, not "localhost": resolves to this machine
    route = Route(("a/*",), f"http://{hostname}:{listener.port}", "T", token="r8_x" * 5,
                  retries=0)
    upstream = UpstreamClient(route, allow_private=False)
    yield upstream, hostname
    await upstream.close()


async def test_the_upstreams_api_and_own_files_are_reached(client, listener):
    upstream, hostname = client
    data = await upstream.download(f"http://{hostname}:{listener.port}/outputs/a.png", 10**6)
    assert data.startswith(b"\x89PNG") and listener.connections == 1
    # The API is reached too (the listener answers an image, not a prediction).
    with pytest.raises(UpstreamError) as raised:
        await upstream.get("some-id")
    assert "other than a JSON object" in str(raised.value)
    assert listener.connections == 2


async def test_files_elsewhere_on_the_private_network_are_still_refused(client, listener):
    upstream, _ = client
    with pytest.raises(UpstreamError) as raised:
        await upstream.download(f"http://127.0.0.1:{listener.port}/a.png", 10**6)
    assert "127.0.0.1" in str(raised.value)
    assert listener.connections == 0
