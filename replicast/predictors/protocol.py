"""How the server and a predictor's process talk.

The server writes ``predict`` and ``healthcheck`` commands to the process's stdin, one
JSON object per line, and stops a prediction with SIGUSR1 (a signal interrupts blocking
calls; a command would wait for the prediction to read it).

The process's stdout and stderr are a pipe the server reads, so that nothing a
predictor writes is lost even if it crashes the next instant. The process's own
messages travel in the same pipe, as records between the predictor's text:
``schema`` (once loaded), ``ready`` (saying whether the predictor has a
``healthcheck()``) or ``setup_failed``, then for each prediction ``owner`` (whose text
follows), ``output`` (an item of an iterator output) and ``done``, and for each
``healthcheck`` its ``health`` (with an ``error`` if it failed). One pipe means one
order: text and messages arrive as they were written.

A record is ``\\0 ESC replicast: <JSON> \\0`` (JSON text never holds a raw NUL),
written in one ``write`` of at most ``PIPE_BUF`` bytes, which a pipe never
interleaves with other writers; it goes through a descriptor of the process's own,
so a predictor that redirects its stdout does not take the messages with it. A
message too long for one record goes on a second pipe, announced by a ``long``
record that the server answers by reading one line there.

Files travel as ``{"__file__": "/absolute/path"}``: both sides share the disk.
"""

from __future__ import annotations

import os
import re
import select
import threading
from typing import Any

import orjson

FILE_KEY = "__file__"
"""The key of the object a file output travels as."""
SETUP, IDLE = "setup", "idle"
"""Owners of log text that is not a prediction's."""
PIPE_BUF = select.PIPE_BUF
"""The most a single write to a pipe keeps whole."""

_START = b"\x00\x1breplicast:"
_RECORD = re.compile(rb"\x00\x1breplicast:([^\x00]*)\x00")
_LONGEST = PIPE_BUF


def record(message: dict[str, Any]) -> bytes:
    """``message`` as a record; ``ValueError`` if it does not fit in one."""
    data = _START + orjson.dumps(message) + b"\x00"
    if len(data) > PIPE_BUF:
        raise ValueError("too long for a record")
    return data


class Channel:
    """The process's side: records into the log pipe, long messages into their own."""

    def __init__(self, log_fd: int, long_fd: int) -> None:
        self._log_fd = log_fd
        self._long_fd = long_fd
        self._lock = threading.Lock()

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        """A message as JSON; ``TypeError`` for what JSON cannot carry."""
        return orjson.dumps(message, default=str)

    def send(self, message: dict[str, Any]) -> None:
        self.send_encoded(self.encode(message))

    def send_encoded(self, data: bytes) -> None:
        """Send JSON made by ``encode``."""
        framed = _START + data + b"\x00"
        with self._lock:
            if len(framed) <= PIPE_BUF:
                _write_all(self._log_fd, framed)
            else:
                # Announce it first: the server reads the other pipe only when told to,
                # and a long message would otherwise wait for it with a full pipe.
                _write_all(self._log_fd, record({"type": "long"}))
                _write_all(self._long_fd, data + b"\n")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Reader:
    """Reads command lines from a file descriptor (blocking); None at end of file."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb", buffering=1 << 16)

    def receive(self) -> dict[str, Any] | None:
        line = self._file.readline()
        if not line:
            return None
        message: dict[str, Any] = orjson.loads(line)
        return message


class LogSplitter:
    """Splits the log pipe into text and messages, however it was cut into chunks."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes | dict[str, Any]]:
        """The text and messages that ``chunk`` completes, in order."""
        data = self._pending + chunk
        pieces: list[bytes | dict[str, Any]] = []
        position = 0
        for found in _RECORD.finditer(data):
            try:
                message = orjson.loads(found.group(1))
            except orjson.JSONDecodeError:
                continue  # text that only looks like a record
            if not isinstance(message, dict):
                continue
            if found.start() > position:
                pieces.append(data[position:found.start()])
            pieces.append(message)
            position = found.end()
        rest = data[position:]
        keep = _unfinished_record(rest)
        if len(rest) > keep:
            pieces.append(rest[: len(rest) - keep])
        self._pending = rest[len(rest) - keep:] if keep else b""
        return pieces

    def flush(self) -> bytes:
        """What is left at the end of the stream (the start of a record that never ended)."""
        rest, self._pending = self._pending, b""
        return rest


def _unfinished_record(data: bytes) -> int:
    """How many bytes at the end of ``data`` may be a record still arriving."""
    start = data.rfind(b"\x00", max(0, len(data) - _LONGEST))
    while start != -1:
        tail = data[start:]
        if _START.startswith(tail[: len(_START)]) and b"\x00" not in tail[1:]:
            return len(tail)
        start = data.rfind(b"\x00", max(0, len(data) - _LONGEST), start)
    return 0
