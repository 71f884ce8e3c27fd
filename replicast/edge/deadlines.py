"""One clock for the deadlines of every connection of a server.

A sweep a few times a second, while any deadline is pending, rather than a timer per
connection: on uvloop a timer costs some 4 µs to make and cancel, which every new
connection would pay, and a deadline kept to within a quarter of a second is as good.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

TICK = 0.25
"""Seconds between sweeps: how late past its deadline a connection may be called."""


class Timed(Protocol):
    """What has a deadline: told when it has passed."""

    def deadline_passed(self, now: float) -> None: ...


class Deadlines:
    """Pending deadlines, each called once past it (and then forgotten). One event
    loop's: not safe across threads."""

    def __init__(self, tick: float = TICK) -> None:
        self.tick = tick
        self._due: dict[Timed, float] = {}
        self._sweeping: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def set(self, loop: asyncio.AbstractEventLoop, timed: Timed, when: float) -> None:
        """Call ``timed`` at the first sweep at or after ``when`` (loop time); replaces any
        deadline it had."""
        self._due[timed] = when
        if self._sweeping is None:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)

    def cancel(self, timed: Timed) -> None:
        """Forget the deadline of ``timed``, if it has one."""
        self._due.pop(timed, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeping = None
        now = loop.time()
        passed = [timed for timed, when in self._due.items() if when <= now]
        for timed in passed:
            del self._due[timed]
        for timed in passed:
            timed.deadline_passed(now)  # which may set a deadline again
        if self._due and self._sweeping is None:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)
