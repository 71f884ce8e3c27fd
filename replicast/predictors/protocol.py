"""How the server and a predictor's process talk.

Three pipes. The server writes ``predict`` commands to the process's stdin, and
stops a prediction with SIGUSR1 (a signal interrupts blocking calls; a command
would wait for the prediction to read it). The process writes messages to a pipe
of their own: ``schema`` (once loaded), ``ready`` or ``setup_failed``, then for each
prediction ``output`` (an item of an iterator output) and ``done``. Both are one
JSON object per line. Files travel as ``{"__file__": "/absolute/path"}``: both
sides share the disk.

The process's stdout and stderr are the third pipe, read by the server, so that
nothing a predictor writes is lost even if it crashes the next instant. Marks in
that stream say whose text follows (``setup``, a prediction id, or ``idle``) and
number the points messages refer to: a message with ``"logs": n`` is handled once
the text before mark ``n`` has been, and the text after that mark once the message
has been, so logs and outputs keep the order the predictor gave them.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import orjson

FILE_KEY = "__file__"
"""The key of the object a file output travels as."""
SETUP, IDLE = "setup", "idle"
"""Owners of log text that is not a prediction's."""

_MARK_START = b"\x00\x1breplicast:"
_MARK = re.compile(rb"\x00\x1breplicast:([A-Za-z0-9_-]{1,64}):([0-9]{1,18})(:m)?\x00")
_MARK_BODY = re.compile(rb"[A-Za-z0-9_-]{0,64}(?::[0-9]{0,18}(?::m?)?)?")
_LONGEST_MARK = len(_MARK_START) + 64 + 1 + 18 + 2 + 1


def mark(owner: str, number: int, *, message: bool = False) -> bytes:
    """The bytes of mark ``number``: the text after it belongs to ``owner``. With
    ``message``, a message refers to it, and the text after it comes after that message."""
    return _MARK_START + f"{owner}:{number}{':m' if message else ''}".encode() + b"\x00"


class Writer:
    """Writes messages to a file descriptor, whole lines only, from any thread."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        """A message as its line; ``TypeError`` for what JSON cannot carry."""
        return orjson.dumps(message, default=str) + b"\n"

    def send(self, message: dict[str, Any]) -> None:
        self.send_encoded(self.encode(message))

    def send_encoded(self, data: bytes) -> None:
        """Write a line made by ``encode``, whole."""
        with self._lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]


class Reader:
    """Reads messages from a file descriptor (blocking); None at end of file."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb", buffering=1 << 16)

    def receive(self) -> dict[str, Any] | None:
        line = self._file.readline()
        if not line:
            return None
        message: dict[str, Any] = orjson.loads(line)
        return message


@dataclass(frozen=True, slots=True)
class Mark:
    """A mark read from the log stream."""

    owner: str
    number: int
    message: bool = False
    """Whether a message refers to it (and text after it must wait for that message)."""


class LogSplitter:
    """Splits the log stream into text and marks, however it was cut into chunks."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes | Mark]:
        """The text and marks that ``chunk`` completes, in order."""
        data = self._pending + chunk
        pieces: list[bytes | Mark] = []
        position = 0
        for found in _MARK.finditer(data):
            if found.start() > position:
                pieces.append(data[position:found.start()])
            pieces.append(Mark(found.group(1).decode(), int(found.group(2)),
                               found.group(3) is not None))
            position = found.end()
        rest = data[position:]
        keep = _unfinished_mark(rest)
        if len(rest) > keep:
            pieces.append(rest[: len(rest) - keep])
        self._pending = rest[len(rest) - keep:] if keep else b""
        return pieces

    def flush(self) -> bytes:
        """What is left at the end of the stream (the start of a mark that never ended)."""
        rest, self._pending = self._pending, b""
        return rest


def _unfinished_mark(data: bytes) -> int:
    """How many bytes at the end of ``data`` may be a mark still arriving."""
    start = data.rfind(b"\x00", max(0, len(data) - _LONGEST_MARK))
    while start != -1:
        tail = data[start:]
        if _MARK_START.startswith(tail[: len(_MARK_START)]) \
                and _MARK_BODY.fullmatch(tail[len(_MARK_START):]):
            return len(tail)
        start = data.rfind(b"\x00", max(0, len(data) - _LONGEST_MARK), start)
    return 0
