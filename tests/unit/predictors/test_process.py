"""The server's side of a predictor's process: reading what it writes until it ends."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from replicast.predictors.process import ChildProcess, Text
from replicast.predictors.protocol import IDLE, SETUP
from replicast.predictors.spec import predictor_spec


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


PREDICTORS = Path(__file__).parents[2] / "predictors"


async def _until_done(events: AsyncIterator[Text | dict]) -> list[Text]:
    """The text read until the next ``done``, joined by owner."""
    texts: list[Text] = []
    async for event in events:
        if isinstance(event, dict):
            if event["type"] == "done":
                return texts
            continue
        if texts and texts[-1].owner == event.owner:
            texts[-1] = Text(event.owner, texts[-1].text + event.text)
        else:
            texts.append(event)
    raise AssertionError("the process ended first")


def _predict(prediction_id: str, **inputs) -> dict:
    return {"type": "predict", "id": prediction_id, "input": inputs, "context": {}}


async def test_text_written_between_predictions_is_nobodys_even_if_unread():
    # Whose text is whose is marked in the pipe itself: text a thread of the predictor
    # wrote after a prediction, still unread when the next command goes, is not the next
    # prediction's (which may be another account's).
    spec = predictor_spec("test/talks", f"{PREDICTORS / 'lifecycle.py'}:Talks")
    child = await ChildProcess.spawn(spec, describe_only=False)
    try:
        events = child.events()
        async for event in events:
            if isinstance(event, dict) and event["type"] == "ready":
                break
        assert child.send(_predict("p1", words="first", then="later\n"))
        assert await _until_done(events) == [Text("p1", "first\n")]
        await asyncio.sleep(0.3)  # "later" is written meanwhile, and not read
        assert child.send(_predict("p2", words="second"))
        assert await _until_done(events) == [Text(IDLE, "later\n"), Text("p2", "second\n")]
    finally:
        await child.close(grace=1)


def _children_running(name: str) -> list[int]:
    """This process's children whose command line holds ``name``, zombies left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and name.encode() in command:
            found.append(int(entry.name))
    return found


async def test_a_start_cut_short_after_the_process_began_leaves_no_process(monkeypatch):
    # A close cancels a start in progress: once the process is running, a cancel while its
    # second pipe is being connected left it running, with the server's ends of its pipes.
    loop = asyncio.get_running_loop()
    real = loop.connect_read_pipe

    async def canceled(protocol_factory, pipe):
        if sys._getframe(1).f_code.co_name != "spawn":  # asyncio's own, for the stdout
            return await real(protocol_factory, pipe)
        raise asyncio.CancelledError

    monkeypatch.setattr(loop, "connect_read_pipe", canceled)
    spec = predictor_spec("test/talks", f"{PREDICTORS / 'lifecycle.py'}:Talks")
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(asyncio.CancelledError):
        await ChildProcess.spawn(spec, describe_only=False)
    monkeypatch.setattr(loop, "connect_read_pipe", real)
    for _ in range(100):  # until the child watcher has reaped it
        if not _children_running("replicast.predictors.child"):
            break
        await asyncio.sleep(0.05)
    assert _children_running("replicast.predictors.child") == []
    await asyncio.sleep(0.1)  # (transports close their pipes a turn after close())
    assert len(os.listdir("/proc/self/fd")) <= open_before
