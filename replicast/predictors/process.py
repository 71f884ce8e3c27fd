"""One predictor process, seen from the server: its three pipes and its end.

``ChildProcess.spawn`` starts ``replicast.predictors.child`` in the predictor's
folder, in a process group of its own (so that a kill takes whatever it started
too). ``messages()`` yields what the process reports, each once the log text that
came before it has been handed to ``on_log``; it ends when the process has.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from replicast.predictors.protocol import SETUP, LogSplitter, Mark
from replicast.predictors.spec import PredictorSpec

MAX_MESSAGE_BYTES = 1 << 30
"""Longest message a process may send (an output, JSON-encoded)."""
_LATE_LOGS_SECONDS = 1.0
"""How long to wait for the rest of the logs once the process has ended (a process it
started may hold the pipe open)."""

LogSink = Callable[[str, str], None]
"""Receives ``(owner, text)``: log text and whose it is (``setup``, ``idle`` or an id)."""


class ProtocolError(Exception):
    """The process sent something that is not a message."""


class ChildProcess:
    """A running predictor process."""

    def __init__(self, process: asyncio.subprocess.Process, messages: asyncio.StreamReader,
                 on_log: LogSink) -> None:
        self.process = process
        self._messages = messages
        self._on_log = on_log
        self._owner = SETUP
        self._reached = 0
        self._logs_ended = False
        self._progress = asyncio.Event()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        assert process.stdout is not None
        self._log_reader = asyncio.create_task(self._read_logs(process.stdout))

    @classmethod
    async def spawn(cls, spec: PredictorSpec, *, describe_only: bool,
                    on_log: LogSink) -> ChildProcess:
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
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        messages = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(messages),
                                     os.fdopen(read_fd, "rb", buffering=0))
        return cls(process, messages, on_log)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Each message, after the logs written before it; ends when the process does."""
        while line := await self._messages.readline():
            try:
                message: dict[str, Any] = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise ProtocolError(f"not a message: {line[:200]!r}") from None
            await self._logs_reached(message.get("logs"))
            yield message

    async def wait(self) -> int:
        """The exit status, once the process has ended and its last logs are in."""
        code = await self.process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._log_reader), _LATE_LOGS_SECONDS)
        self._log_reader.cancel()
        return code

    def send(self, message: dict[str, Any]) -> bool:
        """Send a command; False if the process can no longer take one."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing() or self.process.returncode is not None:
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
        """Close its stdin (it exits at once when idle); kill it after ``grace`` seconds."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.kill()
        await self.wait()

    async def _read_logs(self, stream: asyncio.StreamReader) -> None:
        splitter = LogSplitter()
        try:
            while chunk := await stream.read(1 << 16):
                for piece in splitter.feed(chunk):
                    if isinstance(piece, Mark):
                        self._text(self._decoder.decode(b"", final=True))
                        self._owner, self._reached = piece.owner, piece.number
                        self._progress.set()
                    else:
                        self._text(self._decoder.decode(piece))
            self._text(self._decoder.decode(splitter.flush(), final=True))
        finally:
            self._logs_ended = True
            self._progress.set()

    def _text(self, text: str) -> None:
        if text:
            self._on_log(self._owner, text)

    async def _logs_reached(self, number: Any) -> None:
        if not isinstance(number, int):
            return
        while self._reached < number and not self._logs_ended:
            self._progress.clear()
            await self._progress.wait()
