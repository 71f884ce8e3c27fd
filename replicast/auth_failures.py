"""Failed authentications, limited per client address, so that tokens cannot be guessed.

Each client address has a bucket of ``REPLICAST_RATE_LIMIT_AUTH_FAILURES`` failures a
minute (all of them at once, then one more every ``60/N`` seconds), kept by the same
limiter as the tokens' buckets: in Redis when API processes share one, so the limit
holds across them. A failure is a credential that was presented and is not valid: an
``Authorization`` header with a wrong or malformed token (a missing header is no
guess), or a wrong token on the sign-in page.

While an address's bucket is empty, everything it authenticates with is answered 429
with ``Retry-After``, valid tokens too: were a valid token let through, the answer to
a right guess would differ from that to a wrong one, and the limit would not stop
guessing at all. A success is checked after the token was looked up and a failure is
counted before it is answered, each in one step of the limiter, so that guesses sent
all at once cannot slip through between the check and the count. Routes that
authenticate nothing (event streams, output files, signed downloads, health) are not
affected.

The address is the connection's peer: no header a client sends is believed. IPv6
addresses count by their /64 network, which one client is commonly given whole.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from replicast.accounts.account import Account
from replicast.accounts.service import Accounts
from replicast.errors import Throttled, Unauthenticated
from replicast.ratelimit import Decision, Guard, Limiter, Rate

PREFIX = "auth-failures:"
_IPV6_NETWORK = 64


def client_key(client: tuple[str, int] | None) -> str | None:
    """The bucket of a connection's peer address; None when there is no peer (a Unix
    socket), which the limit then does not apply to."""
    if not client:
        return None
    return _address_key(client[0])


@functools.lru_cache(maxsize=4096)
def _address_key(host: str) -> str:
    """The bucket of an address (parsing one takes longer than the rest of a check)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return PREFIX + host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return PREFIX + str(address.ipv4_mapped)
        return PREFIX + str(ipaddress.IPv6Network((address, _IPV6_NETWORK), strict=False))
    return PREFIX + str(address)


def locked_out(decision: Decision) -> Throttled:
    """The error an address over its limit is answered with."""
    return Throttled("Too many failed authentications from this address. Try again in "
                     f"~{decision.retry_after}s.", retry_after=decision.retry_after)


@dataclass(frozen=True, slots=True)
class FailureLimit:
    """Authenticates tokens under the failure limit of the address they come from."""

    limiter: Limiter
    rate: Rate

    async def identify(self, accounts: Accounts, authorization: str | None,
                       client: tuple[str, int] | None, *, confirm: bool = True
                       ) -> tuple[str, Account]:
        """``accounts.identify``; ``Throttled`` instead while ``client`` is locked out,
        or when this failure is one too many. Without ``confirm`` a valid token is not
        checked against the lockout here: the caller does it, with ``guard``, in the
        step that counts the request against the token's own bucket."""
        try:
            found = await accounts.identify(authorization)
        except Unauthenticated:
            await self.failed(authorization, client)
            raise
        if confirm:
            await self.confirm(client)
        return found

    async def failed(self, authorization: str | None, client: tuple[str, int] | None) -> None:
        """Count a failed authentication with ``authorization`` (none is no guess);
        ``Throttled`` when it is one too many."""
        key = client_key(client)
        if key is None or not authorization or not authorization.strip():
            return
        decision = await self.limiter.check(key, self.rate)
        if decision is not None and not decision.allowed:
            raise locked_out(decision)

    async def confirm(self, client: tuple[str, int] | None) -> None:
        """``Throttled`` if ``client`` is locked out, for a credential that was valid."""
        key = client_key(client)
        if key is None:
            return
        decision = await self.limiter.peek(key, self.rate)
        if decision is not None and not decision.allowed:
            raise locked_out(decision)

    def guard(self, client: tuple[str, int] | None) -> Guard | None:
        """The bucket of ``client``'s failures, for a check to ask first; None when the
        limit does not apply to it."""
        key = client_key(client)
        return Guard(key, self.rate) if key is not None else None
