"""A model's slots: how many of its predictions run at once, and when to take another.

A worker takes a prediction off a model's queue only while one of the model's
``concurrency`` slots is free and no one has claimed it, so that predictions waiting
for the model stay queued (``starting``) rather than ``processing`` in line. The
prediction taken holds that claim while it starts and its input files are fetched,
then runs in the slot. A fetch that takes long steps aside: it gives up its claim, so
that the next prediction can be taken and run meanwhile, and once its files are in it
waits for a slot to come free, ahead of new claims. A slow download delays its own
prediction, not the model.

The slot a run leaves is offered to those waiting once its consumer is done with the
prediction (``Claim.release``: its outcome recorded and answered), not as the model
returns: a consumer woken then would take the loop's turn ahead of that answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Callable


class _Hold(enum.Enum):
    CLAIMED = "claimed"
    ASIDE = "aside"
    WAITING = "waiting"
    RUNNING = "running"
    ENDED = "ended"
    DONE = "done"


class Slots:
    """One model's slots, shared by the worker's consumers of its queue."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.running = 0
        self.claimed = 0
        self.waiting = 0
        """Predictions with their files in, waiting for a slot (they go before claims)."""
        self._runs: list[asyncio.Future[None]] = []  # waiting to run, their files in
        self._claims: list[asyncio.Future[None]] = []  # consumers waiting to claim

    async def claim(self) -> Claim:
        """Wait until a slot is free and unclaimed, and claim it: to take a prediction."""
        await self._until(lambda: self.running + self.claimed + self.waiting
                          < self.concurrency, self._claims)
        self.claimed += 1
        return Claim(self)

    async def _until(self, ready: Callable[[], bool],
                     waiters: list[asyncio.Future[None]]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._changed()  # woken, but going away: the turn passes on
                raise
            finally:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)

    def _changed(self) -> None:
        """Wake as many waiters as the slots now have room for, those whose files are in
        first (a consumer woken for nothing would only go back to waiting)."""
        _wake(self._runs, self.concurrency - self.running)
        _wake(self._claims, self.concurrency - self.running - self.claimed - self.waiting)


def _wake(waiters: list[asyncio.Future[None]], count: int) -> None:
    """Wake the first ``count`` of ``waiters``."""
    woken = 0
    while woken < count and waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            woken += 1


class Claim:
    """A consumer's hold on one of a model's slots, from taking a prediction to the end
    of its run."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._hold = _Hold.CLAIMED
        self._let_go = False
        """Whether its consumer released it while the run still held the slot."""

    def step_aside(self) -> None:
        """Give up the claim while the input files keep coming (a slow fetch)."""
        if self._hold is _Hold.CLAIMED:
            self._slots.claimed -= 1
            self._hold = _Hold.ASIDE
            self._slots._changed()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Hold a slot while the model runs (waiting for one, if the claim was given up
        or another took the slot meanwhile); once it has run, ``release`` hands the slot
        on."""
        slots = self._slots
        slots.waiting += 1  # before the claim goes: the room it leaves is its own
        self.release()
        self._hold = _Hold.WAITING
        try:
            await slots._until(lambda: slots.running < slots.concurrency, slots._runs)
        except BaseException:
            slots.waiting -= 1
            self._hold = _Hold.DONE
            slots._changed()
            raise
        slots.waiting -= 1
        slots.running += 1
        self._hold = _Hold.RUNNING
        try:
            yield
        finally:
            slots.running -= 1
            if self._let_go:  # its consumer has gone on already: the slot goes on now
                self._hold = _Hold.DONE
                slots._changed()
            else:
                self._hold = _Hold.ENDED

    def release(self) -> None:
        """Give up the claim, if it is still held (nothing was taken, or it ended early),
        or the slot its run has left."""
        if self._hold is _Hold.CLAIMED:
            self._slots.claimed -= 1
            self._hold = _Hold.DONE
            self._slots._changed()
        elif self._hold is _Hold.ENDED:
            self._hold = _Hold.DONE
            self._slots._changed()
        elif self._hold in (_Hold.WAITING, _Hold.RUNNING):
            self._let_go = True  # a run that outlives its consumer hands the slot on itself
