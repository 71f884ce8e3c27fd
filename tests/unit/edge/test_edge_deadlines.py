"""One sweep for every connection's deadline: each called once past it, none early, none
after it was cancelled, and no sweeping while nothing is due."""

from __future__ import annotations

import asyncio

from replicast.edge.deadlines import Deadlines


class Connection:
    def __init__(self, deadlines: Deadlines, again: float | None = None) -> None:
        self.deadlines = deadlines
        self.again = again
        self.called: list[float] = []
        self.passed = asyncio.Event()

    def deadline_passed(self, now: float) -> None:
        self.called.append(now)
        if self.again is not None:  # as a body still arriving sets its next check
            loop = asyncio.get_running_loop()
            self.deadlines.set(loop, self, loop.time() + self.again)
            self.again = None
            return
        self.passed.set()


async def test_each_deadline_is_called_once_when_it_has_passed():
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(tick=0.01)
    soon, later, cancelled = (Connection(deadlines) for _ in range(3))
    began = loop.time()
    deadlines.set(loop, soon, began + 0.02)
    deadlines.set(loop, cancelled, began + 0.02)
    deadlines.set(loop, later, began + 0.1)
    deadlines.cancel(cancelled)
    await asyncio.wait_for(later.passed.wait(), 10)
    assert soon.passed.is_set() and not cancelled.called
    assert len(soon.called) == len(later.called) == 1
    assert soon.called[0] >= began + 0.02 and later.called[0] >= began + 0.1
    assert len(deadlines) == 0


async def test_a_deadline_set_again_when_called_is_kept():
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(tick=0.01)
    body = Connection(deadlines, again=0.05)
    deadlines.set(loop, body, loop.time() + 0.01)
    await asyncio.wait_for(body.passed.wait(), 10)
    assert len(body.called) == 2 and body.called[1] >= body.called[0] + 0.05


async def test_it_stops_sweeping_once_nothing_is_due_and_starts_again():
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(tick=0.01)
    first = Connection(deadlines)
    deadlines.set(loop, first, loop.time())
    await asyncio.wait_for(first.passed.wait(), 10)
    assert deadlines._sweeping is None
    second = Connection(deadlines)
    deadlines.set(loop, second, loop.time())
    assert deadlines._sweeping is not None
    await asyncio.wait_for(second.passed.wait(), 10)
