"""A connection's writes made in one turn of the event loop, sent as one.

uvicorn writes a response's head as soon as the app sends ``http.response.start``, and
its body at ``http.response.body``: two ``send`` system calls and two TCP segments for a
JSON answer the app sends in one go, each waking the client, which reads the head, then
waits to be woken again for the body. ``OneWritePerTurn`` stands between the request
cycle and the socket: what is written is held until the response is complete (the
protocol flushes it then) or, for a response still streaming, until the end of the turn
of the loop it was written in; a burst past ``FLUSH_BYTES`` goes at once, so what waits
here stays small, and the socket's own buffer and uvicorn's flow control see every
large write as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

FLUSH_BYTES = 64 * 1024
"""Bytes gathered in one turn after which they are sent without waiting for its end."""


class OneWritePerTurn:
    """``transport`` (an ``asyncio.Transport``) with its writes joined turn by turn;
    everything else as ``transport`` does it."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        """What was written this turn; None while nothing waits (no flush scheduled)."""
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # held a moment: the caller may reuse its buffer meanwhile
        if self._pending is None:
            if self._transport.is_closing():
                self._transport.write(data)  # as the transport treats writes once closing
                return
            self._pending = [data]
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)
            self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what was written this turn (the callback scheduled later finds nothing)."""
        pending, self._pending = self._pending, None
        # A connection lost meanwhile takes nothing more (uvicorn stops writing then too).
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # a response's last bytes go before the connection ends
        self._transport.close()

    def abort(self) -> None:
        self._pending = None  # an abort drops what was not sent, as the transport does
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + (self._size if self._pending else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
