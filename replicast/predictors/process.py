"""One predictor process, seen from the server: its pipes and its end.

``ChildProcess.spawn`` starts ``replicast.predictors.child`` in the predictor's
folder, in a process group of its own (so that a kill takes whatever it started
too). ``events()`` yields what comes out of it, in the order it was written: log
text (with whose it is) and messages; it ends when the process has ended.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from replicast.predictors.protocol import IDLE, SETUP, LogSplitter
from replicast.predictors.spec import PredictorSpec

MAX_MESSAGE_BYTES = 1 << 30
"""Longest message a process may send (an output, JSON-encoded)."""
_LATE_SECONDS = 1.0
"""How long the rest of the output may take once the process has ended (a process it
started may hold the pipes open)."""
_READ_BYTES = 1 << 16


class ProtocolError(Exception):
    """The process sent something that is not a message."""


@dataclass(frozen=True, slots=True)
class Text:
    """Log text, and whose it is: ``setup``, ``idle`` or a prediction id."""

    owner: str
    text: str


class ChildProcess:
    """A running predictor process."""

    def __init__(self, process: asyncio.subprocess.Process,
                 long_messages: asyncio.StreamReader, long_pipe: asyncio.BaseTransport) -> None:
        self.process = process
        self._long = long_messages
        self._long_pipe = long_pipe
        assert process.stdout is not None
        self._logs = process.stdout
        self._owner = SETUP
        # Not process.wait(): asyncio's waits for the pipes to close as well, which a
        # process the predictor started may keep open for ever.
        self._exited = asyncio.ensure_future(_exit_of(process))

    @classmethod
    async def spawn(cls, spec: PredictorSpec, *, describe_only: bool) -> ChildProcess:
        """Start a process for ``spec``; ``OSError`` if it cannot be started."""
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            command = [sys.executable, "-m", "replicast.predictors.child"]
            if describe_only:
                command.append("--describe")
            process = await asyncio.create_subprocess_exec(
                *command, str(write_fd), spec.reference,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, pass_fds=(write_fd,), cwd=spec.folder,
                env=_child_environment(spec), start_new_session=True, limit=_READ_BYTES,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        long_messages = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
        long_file = os.fdopen(read_fd, "rb", buffering=0)
        try:
            long_pipe, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(long_messages), long_file)
        except BaseException:
            # Started but not to be followed (a close canceled the start, say): neither
            # it nor what it starts may outlive this, nor its pipes stay open.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            long_file.close()
            transport = getattr(process, "_transport", None)
            if transport is not None:
                transport.close()
            raise
        return cls(process, long_messages, long_pipe)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the process has not exited."""
        return not self._exited.done() and self.process.returncode is None

    async def events(self) -> AsyncIterator[Text | dict[str, Any]]:
        """Log text and messages in the order written; ends with the process's output
        (even if something it started keeps the pipe open)."""
        splitter = LogSplitter()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        with contextlib.suppress(TimeoutError):
            # Once the process has exited, its output ends: at the end of the pipe, or
            # a moment later if something it started holds the pipe open.
            async with asyncio.timeout(None) as deadline:
                reading = True

                def soon(_: object) -> None:
                    # A done callback runs later than it is scheduled: by then the
                    # output may have ended and the deadline be over.
                    if reading and not deadline.expired():
                        deadline.reschedule(asyncio.get_running_loop().time() + _LATE_SECONDS)

                self._exited.add_done_callback(soon)
                try:
                    async for event in self._read(splitter, decoder):
                        yield event
                finally:
                    reading = False
                    self._exited.remove_done_callback(soon)
        text = decoder.decode(splitter.flush(), final=True)
        if text:
            yield Text(self._owner, text)

    async def _read(self, splitter: LogSplitter, decoder: codecs.IncrementalDecoder
                    ) -> AsyncIterator[Text | dict[str, Any]]:
        while chunk := await self._logs.read(_READ_BYTES):
            for piece in splitter.feed(chunk):
                if isinstance(piece, bytes):
                    text = decoder.decode(piece)
                    if text:
                        yield Text(self._owner, text)
                    continue
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield Text(self._owner, tail)
                if piece.get("type") == "long":
                    piece = await self._long_message()
                kind = piece.get("type")
                if kind == "owner":
                    self._owner = str(piece.get("owner"))
                    continue
                if kind in ("ready", "done"):
                    self._owner = IDLE
                yield piece

    async def _long_message(self) -> dict[str, Any]:
        try:
            line = await self._long.readline()
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise ProtocolError(f"a message longer than {MAX_MESSAGE_BYTES} bytes") from exc
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ProtocolError(f"not a message: {line[:200]!r}") from None
        if not isinstance(message, dict):
            raise ProtocolError(f"not a message: {line[:200]!r}")
        return message

    async def wait(self) -> int:
        """The exit status, once the process has ended; what it started goes with it."""
        code = await asyncio.shield(self._exited)
        self.kill()
        self._long_pipe.close()
        with contextlib.suppress(TimeoutError):  # let asyncio close its side of the pipes
            await asyncio.wait_for(self.process.wait(), _LATE_SECONDS)
        # A process it started and moved out of its group may still hold them: asyncio
        # has no public way to let go of a subprocess's pipes but closing its transport.
        transport = getattr(self.process, "_transport", None)
        if transport is not None:
            transport.close()
        return code

    def send(self, message: dict[str, Any]) -> bool:
        """Send a command; False if the process can no longer take one."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing() or not self.running:
            return False
        stdin.write(orjson.dumps(message) + b"\n")
        return True

    def interrupt(self) -> None:
        """Ask the process to stop the prediction it is running (SIGUSR1)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.process.pid, signal.SIGUSR1)

    def kill(self) -> None:
        """Kill the process and whatever it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def close(self, grace: float) -> None:
        """Close its stdin (it exits at once when idle); kill it after ``grace`` seconds,
        and whatever it started in any case."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exited), grace)
        self.kill()
        await self.wait()


def _child_environment(spec: PredictorSpec) -> dict[str, str]:
    """The server's environment without its own settings (its API token among them),
    with what the predictor's ``cog.yaml`` sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICAST_")}
    env.update(spec.environment)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _exit_of(process: asyncio.subprocess.Process) -> int:
    """The exit status of ``process`` as soon as it has exited."""
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd here: look every tenth of a second
        pidfd = None
    if pidfd is not None:
        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(pidfd, readable)
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
    # asyncio's child watcher sets the status once it has reaped the process; nothing
    # announces that apart from process.wait(), which waits for the pipes too.
    while process.returncode is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01 if pidfd is not None else 0.1)
    return process.returncode


def exit_reason(code: int) -> str:
    """``exited with code 3`` or ``was killed by SIGSEGV``."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
