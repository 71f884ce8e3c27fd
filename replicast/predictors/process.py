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
_LATE_SECONDS = 1.0
"""How long to wait for the rest of the logs and messages once the process has ended (a
process it started may hold the pipes open)."""
_MESSAGE_WAIT_SECONDS = 5.0
"""How long the text after a message's mark waits for that message at most."""
_QUIET_SECONDS = 1.0
"""How long a message waits for the logs before it when nothing arrives on the log pipe
(a predictor that redirected its stdout takes the marks with it)."""

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
        self._handled = 0
        """The mark of the last message handed over."""
        self._messages_ended = False
        self._handed = asyncio.Event()
        # Not process.wait(): asyncio's waits for the pipes to close as well, which a
        # process the predictor started may keep open for ever.
        self._exited = asyncio.ensure_future(_exit_of(process))
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
                env=_child_environment(), start_new_session=True,
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

    @property
    def running(self) -> bool:
        """Whether the process has not exited."""
        return not self._exited.done() and self.process.returncode is None

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Each message, after the logs written before it; ends when the process does
        (even if something it started keeps the pipe open)."""
        while True:
            line = await self._next_line()
            if not line:
                self._messages_ended = True
                self._handed.set()
                return
            try:
                message: dict[str, Any] = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise ProtocolError(f"not a message: {line[:200]!r}") from None
            number = message.get("logs")
            await self._logs_reached(number)
            if isinstance(number, int):
                # Set before handing it over: the text after its mark waits for this.
                self._handled = number
                self._handed.set()
            yield message

    async def _next_line(self) -> bytes:
        reading = asyncio.ensure_future(self._messages.readline())
        try:
            await asyncio.wait({reading, self._exited}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():  # it has exited: take what it wrote before, briefly
                await asyncio.wait({reading}, timeout=_LATE_SECONDS)
            if not reading.done():
                return b""
            return reading.result()
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise ProtocolError(f"a message longer than {MAX_MESSAGE_BYTES} bytes") from exc
        finally:
            reading.cancel()

    async def wait(self) -> int:
        """The exit status, once the process has ended and its last logs are in; what it
        started goes with it."""
        code = await asyncio.shield(self._exited)
        self.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._log_reader), _LATE_SECONDS)
        self._log_reader.cancel()
        with contextlib.suppress(TimeoutError):  # let asyncio close its side of the pipes
            await asyncio.wait_for(self.process.wait(), _LATE_SECONDS)
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
        """Close its stdin (it exits at once when idle); kill it after ``grace`` seconds,
        and whatever it started in any case."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exited), grace)
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
                        if piece.message:
                            await self._message_handled(piece.number)
                    else:
                        self._text(self._decoder.decode(piece))
                self._progress.set()  # text counts too: the pipe is not silent
            self._text(self._decoder.decode(splitter.flush(), final=True))
        finally:
            self._logs_ended = True
            self._progress.set()

    def _text(self, text: str) -> None:
        if text:
            self._on_log(self._owner, text)

    async def _message_handled(self, number: int) -> None:
        """Wait until the message of mark ``number`` has been handed over (not for ever:
        a process that dies between the two never sends it)."""
        give_up = asyncio.get_running_loop().time() + _MESSAGE_WAIT_SECONDS
        while self._handled < number and not self._messages_ended:
            self._handed.clear()
            remaining = give_up - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._handed.wait(), remaining)

    async def _logs_reached(self, number: Any) -> None:
        if not isinstance(number, int):
            return
        while self._reached < number and not self._logs_ended:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), _QUIET_SECONDS)
            except TimeoutError:
                return  # the log pipe is silent: the mark is not coming


def _child_environment() -> dict[str, str]:
    """The server's environment without its own settings (its API token among them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICAST_")}
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
