"""Token buckets, kept as GCRA, and the interface of the backends that keep them.

A bucket holds up to ``burst`` requests and refills at ``per_minute``; a request takes
one out, or is refused when it is empty. GCRA (the generic cell rate algorithm) keeps
such a bucket as a single number per key: the instant it will be full again. A key
never seen, or whose instant has passed, has a full bucket, so a backend may forget it
then: state lives exactly as long as it matters.

Times are whole microseconds, so that every backend (Python here, Lua in Redis) does
the same integer arithmetic and answers the same.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """How fast one key may make requests: ``per_minute`` on average, ``burst`` at once."""

    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("a rate needs at least one request a minute and a burst of one")

    @property
    def interval(self) -> int:
        """Microseconds for the bucket to regain one request."""
        return max(1, round(60 * MICROS / self.per_minute))

    @classmethod
    def of(cls, per_minute: int, burst_seconds: float) -> Rate | None:
        """``per_minute`` with a bucket of ``burst_seconds`` of it; None when it is 0 (off)."""
        if per_minute <= 0:
            return None
        return cls(per_minute, max(1, int(per_minute * burst_seconds / 60)))


@dataclass(frozen=True, slots=True)
class Guard:
    """A bucket a check first asks, without counting in it (``Limiter.check``)."""

    key: str
    rate: Rate


@dataclass(frozen=True, slots=True)
class Decision:
    """What a bucket says about one request."""

    allowed: bool
    remaining: int
    """Requests the bucket still holds after this one."""
    full_in: int
    """Microseconds until the bucket is full again."""
    retry_in: int
    """Microseconds until a request would be allowed; 0 when this one was."""
    guarded: bool = False
    """Whether this is the refusal of a check's guard (nothing was counted)."""

    @classmethod
    def of(cls, rate: Rate, full_in: int, retry_in: int, guarded: bool = False) -> Decision:
        """The decision GCRA's two numbers describe (the backends return those)."""
        if retry_in > 0:
            return cls(False, 0, full_in, retry_in, guarded)
        held = (rate.burst * rate.interval - full_in) // rate.interval
        return cls(True, max(0, held), full_in, 0)

    @property
    def reset(self) -> int:
        """Whole seconds until the bucket is full again (``ratelimit-reset``)."""
        return -(-self.full_in // MICROS)

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait before trying again, at least 1 (``Retry-After``)."""
        return max(1, -(-self.retry_in // MICROS))


def admit(rate: Rate, full_at: int | None, now: int) -> tuple[int | None, Decision]:
    """One request at ``now`` against a bucket full again at ``full_at`` (None: full).

    Returns the instant to keep for the key (None when the request was refused and
    nothing changes) and the decision. ``redis.py`` runs the same steps in Lua.
    """
    interval = rate.interval
    start = now if full_at is None or full_at < now else full_at
    # Allowed if, with this request added, the bucket holds no more than ``burst``.
    wait = start - now - (rate.burst - 1) * interval
    if wait > 0:
        return None, Decision.of(rate, start - now, wait)
    full_at = start + interval
    return full_at, Decision.of(rate, full_at - now, 0)


class Limiter(abc.ABC):
    """Keeps buckets by key and counts requests against them."""

    shared: bool = False
    """Whether processes using the same backend share their buckets."""

    async def open(self) -> None:
        """Get ready (connections are made when first needed)."""

    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def check(self, key: str, rate: Rate, guard: Guard | None = None) -> Decision | None:
        """Count one request against ``key``'s bucket of ``rate``; None when the backend
        cannot say (the request goes ahead: limits fail open).

        With a ``guard``, in the same step, first ask its bucket whether a request would
        be allowed there, counting nothing in it: if not, nothing is counted at all and
        the answer is its refusal (``guarded``)."""

    @abc.abstractmethod
    async def peek(self, key: str, rate: Rate) -> Decision | None:
        """What ``check`` would answer now, without counting the request; None when the
        backend cannot say."""
