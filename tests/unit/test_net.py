import asyncio
import contextlib
import ipaddress
import socket
import threading

import httpx
import pytest

from replicast import net
from tests.support.listener import Listener
from tests.support.receiver import Receiver
from tests.support.trickle import moments_left_open


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False), ("224.0.0.1", False), ("255.255.255.255", False),
])
def test_which_addresses_are_public(address, public):
    assert net.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("host,private", [
    ("localhost", True), ("LOCALHOST.", True), ("app.localhost", True), ("127.0.0.1", True),
    ("[::1]", True), ("example.com", False), ("8.8.8.8", False),
])
def test_obviously_private_hosts(host, private):
    assert net.obviously_private(host) is private


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def names(monkeypatch):
    """A fake DNS: names resolve to whatever the test says."""
    table: dict[str, list[str]] = {}

    async def resolve(host, port):
        if net.literal_address(host) is not None:
            return [net.literal_address(host)]
        if host not in table:
            raise httpx.ConnectError(f"cannot resolve {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(net, "_resolve", resolve)
    return table


async def test_a_public_name_resolving_to_a_private_address_is_refused(receiver, names):
    names["innocent.example"] = ["127.0.0.1"]
    async with net.guarded_client(allow_private=False, timeout=5,
                                  follow_redirects=False) as client:
        with pytest.raises(net.PrivateAddressError, match=r"innocent\.example resolves to"):
            await client.post(f"http://innocent.example:{receiver.port}/hook", content=b"x")
        with pytest.raises(net.PrivateAddressError):
            await client.post(f"http://127.0.0.1:{receiver.port}/hook", content=b"x")
    assert receiver.received == []


async def test_any_private_address_among_several_is_refused(receiver, names):
    names["mixed.example"] = ["8.8.8.8", "10.0.0.7"]
    async with net.guarded_client(allow_private=False, timeout=5,
                                  follow_redirects=False) as client:
        with pytest.raises(net.PrivateAddressError, match=r"10\.0\.0\.7"):
            await client.get("http://mixed.example/")


async def test_the_connection_goes_to_the_address_that_was_checked(receiver, names):
    # A rebinding name cannot switch addresses between the check and the connection:
    # the client connects to the address it resolved, and keeps the name as Host.
    names["rebind.example"] = ["127.0.0.1"]
    async with net.guarded_client(allow_private=True, timeout=5,
                                  follow_redirects=False) as client:
        response = await client.post(f"http://rebind.example:{receiver.port}/hook",
                                     content=b"{}")
    assert response.status_code == 200
    (request,) = receiver.received
    assert request.headers["host"] == f"rebind.example:{receiver.port}"
    assert request.headers["user-agent"].startswith("replicast/")


async def test_every_hop_of_a_redirect_is_checked(receiver, names, monkeypatch):
    # Pretend 127.0.0.1 is public: the first hop goes through, its redirect to a name
    # that resolves to ::1 (where something listens) may not.
    monkeypatch.setattr(net, "is_public", lambda address: str(address) == "127.0.0.1")
    internal = Listener("::1")
    names["public.example"] = ["127.0.0.1"]
    names["internal.example"] = ["::1"]
    receiver.statuses = [302]
    receiver.redirect_to = f"http://internal.example:{internal.port}/metadata"
    try:
        async with net.guarded_client(allow_private=False, timeout=5,
                                      follow_redirects=True) as client:
            with pytest.raises(net.PrivateAddressError, match=r"internal\.example"):
                await client.post(f"http://public.example:{receiver.port}/hook", content=b"x")
    finally:
        internal.close()
    assert len(receiver.received) == 1  # the first hop was made
    assert internal.connections == 0  # the second never was


@pytest.mark.parametrize("address", [
    "64:ff9b::a9fe:a9fe",      # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",         # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",        # local-use NAT64 prefix, 10.0.0.1
    "2002:7f00:1::",           # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",       # 6to4 of 169.254.169.254
    "::7f00:1",                # IPv4-compatible 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo whose client is 10.0.0.1
])
def test_ipv6_addresses_that_carry_a_private_ipv4_one_are_not_public(address):
    assert net.is_public(ipaddress.ip_address(address)) is False


def test_ipv6_that_carries_a_public_ipv4_address_is_judged_by_both():
    assert net.is_public(ipaddress.ip_address("2002:0808:0808::1")) is True  # 6to4 of 8.8.8.8


@pytest.mark.parametrize("address,never", [
    ("169.254.169.254", True), ("169.254.170.2", True), ("169.254.0.1", True),
    ("fe80::1", True), ("fd00:ec2::254", True), ("100.100.100.200", True),
    ("192.0.0.192", True), ("::ffff:169.254.169.254", True), ("64:ff9b::a9fe:a9fe", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("::1", False), ("8.8.8.8", False),
])
def test_link_local_and_metadata_addresses_are_never_reachable(address, never):
    assert net.never_reachable(ipaddress.ip_address(address)) is never


async def test_metadata_addresses_are_refused_even_where_private_ones_are_allowed(
        receiver, names):
    names["metadata.google.internal"] = ["169.254.169.254"]
    names["sneaky.example"] = ["127.0.0.1", "fd00:ec2::254"]
    async with net.guarded_client(allow_private=True, timeout=5,
                                  follow_redirects=False) as client:
        for url in ("http://metadata.google.internal/computeMetadata/v1/",
                    f"http://sneaky.example:{receiver.port}/hook"):
            with pytest.raises(net.PrivateAddressError, match="never reached"):
                await client.post(url, content=b"x")
        # Loopback stays allowed.
        response = await client.post(f"http://127.0.0.1:{receiver.port}/hook", content=b"x")
    assert response.status_code == 200 and len(receiver.received) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_canceled_at_any_moment_hangs_up(method):
    # A download canceled with its run, a webhook's POST at its deadline: a cancel that
    # landed inside httpx while it set up the request left the connection open in its
    # pool, the other side sending or waiting for ever, a socket lost each time.
    client = net.guarded_client(allow_private=True, timeout=5, follow_redirects=False)

    async def request(url: str) -> None:
        async with client.stream(method, url, content=b'{"id": "x"}' if method == "POST"
                                 else None) as response:
            await response.aread()

    try:
        left_open = await moments_left_open(request)
    finally:
        await client.aclose()
    assert left_open == []  # (the moments, in loop iterations after the accept)


async def test_closing_a_client_ends_the_requests_its_canceled_callers_left_going():
    # A request whose caller was canceled goes on by itself (net.HangsUp); closing the
    # client leaves neither it running nor its connection open, and does not wait long.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted, closed = threading.Event(), threading.Event()

    def silent() -> None:  # reads the request and never answers
        connection, _ = server.accept()
        accepted.set()
        with connection:
            while connection.recv(65536):
                pass
        closed.set()

    threading.Thread(target=silent, daemon=True).start()
    client = net.guarded_client(allow_private=True, timeout=30, follow_redirects=False)
    transport = client._transport
    assert isinstance(transport, net.HangsUp)
    try:
        request = asyncio.ensure_future(client.post(
            f"http://127.0.0.1:{server.getsockname()[1]}/hook", content=b"{}"))
        assert await asyncio.to_thread(accepted.wait, 5)
        await asyncio.sleep(0.05)  # the request is sent: the answer is what it waits for
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await request
        assert transport._abandoned  # going on by itself
        loop = asyncio.get_running_loop()
        began = loop.time()
        await client.aclose()
        assert loop.time() - began < net.HangsUp.CLOSE_GRACE + 0.5
        assert not transport._abandoned
        assert await asyncio.to_thread(closed.wait, 5)
    finally:
        server.close()
