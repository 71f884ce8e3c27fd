"""The server's side of a predictor's process: reading what it writes until it ends."""

from __future__ import annotations

import asyncio

from replicast.predictors.process import ChildProcess, Text
from replicast.predictors.protocol import SETUP


def _child(loop: asyncio.AbstractEventLoop) -> ChildProcess:
    """A ChildProcess over a pipe and an exit this test controls."""
    child = ChildProcess.__new__(ChildProcess)
    child._logs = asyncio.StreamReader()
    child._owner = SETUP
    child._exited = loop.create_future()
    return child


async def test_output_and_process_ending_together_leave_no_error_behind():
    """The process's exit is announced by a callback that runs after the output has
    ended: it must not touch the finished time-out (``Cannot change state of finished
    Timeout``, logged at about a third of shutdowns)."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    child = _child(loop)
    child._logs.feed_data(b"bye\n")
    events = child.events()
    assert await anext(events) == Text(SETUP, "bye\n")
    rest = asyncio.ensure_future(anext(events, None))
    await asyncio.sleep(0)  # it waits for more output
    child._logs.feed_eof()
    child._exited.set_result(0)
    assert await rest is None
    for _ in range(3):
        await asyncio.sleep(0)
    assert errors == []


async def test_output_held_open_after_the_exit_ends_soon_after_it(monkeypatch):
    monkeypatch.setattr("replicast.predictors.process._LATE_SECONDS", 0.05)
    loop = asyncio.get_running_loop()
    child = _child(loop)
    child._logs.feed_data(b"last words\n")
    child._exited.set_result(-9)  # a process it started keeps the pipe open
    assert [event async for event in child.events()] == [Text(SETUP, "last words\n")]
