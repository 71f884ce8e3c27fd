"""Outbound HTTP that cannot be turned against private networks.

Webhooks and input files make Replicast fetch URLs that users choose. Every
connection such a client opens, redirects included, goes through
``GuardedBackend``: the host name is resolved once, every address it resolves to
must be public, and the connection is made to that very address, so a name that
resolves differently a moment later (DNS rebinding) gains nothing. TLS still
verifies the certificate against the host name.

Link-local addresses, where cloud metadata services answer (169.254.169.254 and its
kind), are never reached, even where private addresses are allowed: nothing Replicast
must reach lives there, and what does (instance credentials) must never be fetched on
someone else's behalf.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from replicast import __version__

USER_AGENT = f"replicast/{__version__}"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddressError(httpx.ConnectError):
    """A URL leads to a loopback, private, link-local or otherwise non-public address."""


_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "fd00:ec2::254",    # AWS's instance metadata over IPv6 (169.254.169.254 is link-local)
    "100.100.100.200",  # Alibaba Cloud's
    "192.0.0.192",      # Oracle Cloud's
))


_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64) or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) must
    also carry a public one: ``64:ff9b::a9fe:a9fe`` reaches 169.254.169.254.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


def never_reachable(address: Address) -> bool:
    """Whether ``address`` is link-local or a cloud metadata service's, which no client
    here reaches, whatever it may reach otherwise (an IPv6 address carrying such an
    IPv4 one included)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and never_reachable(embedded):
            return True
    return address.is_link_local or address in _METADATA


def literal_address(host: str) -> Address | None:
    """The address a host name spells, if it is an IP literal."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def obviously_private(host: str) -> bool:
    """Whether a host is private without asking DNS: an IP literal, or ``localhost``."""
    address = literal_address(host)
    if address is not None:
        return not is_public(address)
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, *, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port)
        for address in addresses:
            if never_reachable(address):
                raise PrivateAddressError(
                    f"{host} resolves to {address}, a link-local or cloud metadata "
                    "address, which is never reached from here")
            if not self._allow_private and not is_public(address):
                raise PrivateAddressError(
                    f"{host} resolves to {address}, which is not a public address; "
                    "set REPLICAST_ALLOW_PRIVATE_URLS to allow it"
                )
        failure: Exception | None = None
        for address in addresses:  # every one checked; the first that answers is used
            try:
                return await self._inner.connect_tcp(str(address), port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressError("Unix sockets are not reachable from here")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int) -> list[Address]:
    address = literal_address(host)
    if address is not None:
        return [address]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
    found: list[Address] = []
    for *_, sockaddr in infos:
        resolved = ipaddress.ip_address(sockaddr[0])
        if resolved not in found:
            found.append(resolved)
    if not found:
        raise httpx.ConnectError(f"{host} resolves to no address")
    return found


def guarded_client(*, allow_private: bool, timeout: float,
                   follow_redirects: bool) -> httpx.AsyncClient:
    """An HTTP client whose every connection is checked by ``GuardedBackend``, and whose
    requests hang up when canceled (``HangsUp``)."""
    transport = httpx.AsyncHTTPTransport()
    # httpx builds the connection pool and offers no way to pass a backend to it:
    # swap it in (the tests of this module fail loudly if that ever stops working).
    pool = transport._pool
    pool._network_backend = GuardedBackend(pool._network_backend, allow_private=allow_private)
    return httpx.AsyncClient(transport=HangsUp(transport), timeout=timeout,
                             follow_redirects=follow_redirects,
                             headers={"User-Agent": USER_AGENT})


class HangsUp(httpx.AsyncBaseTransport):
    """Sends each request in a task of its own, which a cancel does not interrupt.

    A cancel that lands inside httpx while it sets up a request (a run canceled during
    its download, a webhook attempt at its deadline, a stop) can leave the connection
    in the pool, open and never used: the other side goes on sending, or waits, for
    ever, and each such cancel costs a socket. Here the request goes on by itself
    instead, within the client's own timeouts, and its response is closed as soon as
    it comes, which hangs up. So a request canceled once it has begun may still reach
    the other side whole (as one canceled while its answer was awaited always could): a
    webhook given up at its deadline and sent again may arrive twice, which its
    ``webhook-id`` lets the receiver see. ``aclose`` gives the requests still going and
    the closes ``CLOSE_GRACE`` seconds, then cancels what is left and closes the pool.
    """

    CLOSE_GRACE = 1.0

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._abandoned: set[asyncio.Future[Any]] = set()
        """Requests whose callers were canceled, and the closes of their responses."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sending = asyncio.ensure_future(self._transport.handle_async_request(request))
        try:
            return await asyncio.shield(sending)
        except asyncio.CancelledError:
            self._keep(sending)
            sending.add_done_callback(self._hang_up)
            raise

    def _keep(self, future: asyncio.Future[Any]) -> None:
        self._abandoned.add(future)
        future.add_done_callback(self._abandoned.discard)

    def _hang_up(self, sending: asyncio.Future[httpx.Response]) -> None:
        if sending.cancelled() or sending.exception() is not None:
            return  # (the exception is looked at: nobody else will)
        self._keep(asyncio.ensure_future(_close(sending.result())))

    async def aclose(self) -> None:
        if self._abandoned:
            _, going = await asyncio.wait(set(self._abandoned), timeout=self.CLOSE_GRACE)
            for future in going:
                future.cancel()
            await asyncio.gather(*going, return_exceptions=True)
        await self._transport.aclose()


async def _close(response: httpx.Response) -> None:
    """Close an abandoned request's response; how that went concerns no one."""
    with contextlib.suppress(Exception):
        await response.aclose()
