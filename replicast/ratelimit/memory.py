"""Buckets in this process's memory: right for one API process."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import OrderedDict
from collections.abc import Callable

from replicast.ratelimit.base import MICROS, Decision, Guard, Limiter, Rate, admit


class MemoryLimiter(Limiter):
    """Keeps, per key, the instant its bucket is full again, least recently used first.

    A bucket that is full again is as good as forgotten, so each check first drops such
    buckets from the old end, and at most ``max_keys`` are kept: past that the least
    recently used is forgotten (which refills it early; only so many keys at once can
    make that happen). Memory stays bounded whatever keys arrive, at O(1) a check.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._full_at: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._full_at)

    async def check(self, key: str, rate: Rate, guard: Guard | None = None) -> Decision:
        return self.take(key, rate, guard)

    async def peek(self, key: str, rate: Rate) -> Decision:
        full_at = self._full_at.get(key)
        if full_at is None:
            # A full bucket, whenever asked: the usual case for a guard like the failed
            # authentications of an address, peeked at by each request that passes.
            return _full(rate)
        return admit(rate, full_at, round(self._clock() * MICROS))[1]

    def take(self, key: str, rate: Rate, guard: Guard | None = None) -> Decision:
        """``check`` without the coroutine: nothing here waits."""
        now = round(self._clock() * MICROS)
        if guard is not None:
            refused = admit(guard.rate, self._full_at.get(guard.key), now)[1]
            if not refused.allowed:
                return dataclasses.replace(refused, guarded=True)
        full_at, decision = admit(rate, self._full_at.get(key), now)
        if full_at is not None:
            self._full_at[key] = full_at
            self._full_at.move_to_end(key)
            self._forget(now)
        return decision

    def _forget(self, now: int) -> None:
        buckets = self._full_at
        while buckets:
            oldest, full_at = next(iter(buckets.items()))
            if full_at > now and len(buckets) <= self._max_keys:
                return
            del buckets[oldest]


@functools.lru_cache(maxsize=64)
def _full(rate: Rate) -> Decision:
    """What a full bucket of ``rate`` says of one request (the same at any instant)."""
    return admit(rate, None, 0)[1]
