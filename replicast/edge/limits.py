"""The edge's numbers, and the counting of open connections against their caps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replicast.config import Settings


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What a connection may cost before the app sees a request (see config.Settings)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = 1024
    max_connections: int = 1000
    max_connections_per_client: int = 500

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        """The limits ``settings`` asks for."""
        return cls(max_header_bytes=settings.max_header_bytes,
                   max_headers=settings.max_headers,
                   header_timeout=settings.header_timeout,
                   body_timeout=settings.body_timeout,
                   body_min_rate=settings.body_min_rate,
                   max_connections=settings.max_connections,
                   max_connections_per_client=settings.max_connections_per_client)

    def body_due(self, started: float, received: int, now: float) -> float | None:
        """When a body begun at ``started`` that has sent ``received`` bytes by ``now``
        must have sent more, or None if it is already too slow.

        Any body may take ``body_timeout`` seconds; past that it must average
        ``body_min_rate`` bytes a second, so that a body of N bytes sent at a steady pace
        has max(body_timeout, N / body_min_rate) seconds in all. With no minimum rate,
        ``body_timeout`` is the whole of it.
        """
        grace = started + self.body_timeout
        if now < grace:
            return grace
        if self.body_min_rate == 0:
            return None
        earned = started + received / self.body_min_rate
        return earned if earned > now else None


class ConnectionCaps:
    """Open connections, in all and per client address, refusing any past either cap
    (a cap of 0 is no cap). One event loop's: not safe across threads."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open = 0
        self._by_client: dict[str, int] = {}
        self._refused = 0
        self._reported = float("-inf")

    def admit(self, client: str) -> bool:
        """Count a new connection from ``client``; False (and not counted) past a cap."""
        count = self._by_client.get(client, 0)
        if (self.total and self.open >= self.total) or \
                (self.per_client and count >= self.per_client):
            self._refused += 1
            return False
        self.open += 1
        self._by_client[client] = count + 1
        return True

    def release(self, client: str) -> None:
        """A connection ``admit`` counted has closed."""
        self.open -= 1
        count = self._by_client[client] - 1
        if count:
            self._by_client[client] = count
        else:
            del self._by_client[client]

    def clients(self) -> int:
        """How many addresses have connections open."""
        return len(self._by_client)

    def refusals_to_report(self, now: float, every: float) -> int:
        """Connections refused since the last report, if one is due (at most one every
        ``every`` seconds, so that a flood of connections is not a flood of log lines)."""
        if not self._refused or now - self._reported < every:
            return 0
        refused, self._refused, self._reported = self._refused, 0, now
        return refused
