"""Downloads that end: at most so many bytes, within a deadline, at a minimum rate.

An HTTP client's timeout bounds each read, not the whole: a server that sends a byte
every few seconds never trips it, and holds the download, and whatever waits on it,
for as long as it likes. Every download of a URL that Replicast is handed (input files,
a routed model's output files) runs ``within`` its ``Limits``: done ``deadline`` seconds
after it began, retries included, and, once its body has had ``GRACE`` seconds to get
going, having received at least ``min_rate`` bytes a second on average. Whichever comes
first ends it, with the connection closed.

``TooLarge`` and ``TooSlow`` never leave the callers, which translate them into their
own errors (naming the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

GRACE = 5.0
"""Seconds a body may take before the minimum rate applies to it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one download may take."""

    max_bytes: int
    """The largest body taken."""
    deadline: float
    """Seconds from the first request to the last byte, retries included."""
    min_rate: int = 0
    """Bytes a second a body must average from ``GRACE`` seconds on; 0: no minimum."""


class TooLarge(Exception):
    """The body is larger than ``Limits.max_bytes``."""


class TooSlow(Exception):
    """The download passed its deadline, or fell below its minimum rate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        """``took longer than 30 s``, or ``was slower than 32768 bytes a second``."""


class Budget:
    """One download's deadline and pace, kept by the timeout ``within`` set up."""

    def __init__(self, limits: Limits, timeout: asyncio.Timeout, deadline: float) -> None:
        self.limits = limits
        self._timeout = timeout
        self._deadline = deadline
        self._slow = False  # whether the timeout is set for the rate, not the deadline

    async def read(self, response: httpx.Response,
                   write: Callable[[bytes], Awaitable[None]]) -> int:
        """Hand the body to ``write`` chunk by chunk, counted against the size, the
        deadline and the rate; how many bytes it had."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise TooLarge()
        began, received = asyncio.get_running_loop().time(), 0
        try:
            self._pace(began, received)
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > self.limits.max_bytes:
                    raise TooLarge()
                self._pace(began, received)
                await write(chunk)
        finally:
            if not self._timeout.expired():  # what follows (a retry) has the deadline only
                self._slow = False
                self._timeout.reschedule(self._deadline)
        return received

    def _pace(self, began: float, received: int) -> None:
        """Expect the next bytes by the time the average would fall below the rate."""
        if not self.limits.min_rate:
            return
        behind = began + GRACE + received / self.limits.min_rate
        self._slow = behind < self._deadline
        self._timeout.reschedule(min(behind, self._deadline))

    def failure(self) -> TooSlow:
        """What ended the download when its timeout fired."""
        if self._slow:
            return TooSlow(f"was slower than {self.limits.min_rate} bytes a second")
        return TooSlow(f"took longer than {self.limits.deadline:g} s")


@contextlib.asynccontextmanager
async def within(limits: Limits) -> AsyncIterator[Budget]:
    """Run a download (its requests, retries, and bodies read with ``Budget.read``)
    within ``limits``; ``TooSlow`` once it runs past the deadline or below the rate."""
    deadline = asyncio.get_running_loop().time() + limits.deadline
    timeout = asyncio.timeout_at(deadline)
    budget = Budget(limits, timeout, deadline)
    try:
        async with timeout:
            yield budget
    except TimeoutError:
        if timeout.expired():
            raise budget.failure() from None
        raise


async def collect(budget: Budget, response: httpx.Response) -> bytes:
    """The whole body, read within the budget."""
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(chunk)

    await budget.read(response, keep)
    return b"".join(chunks)
