"""A loopback HTTP server that sends its body one byte at a time, slowly.

For proving that a download ends on its own: every connection is counted, and
``closed`` is set when the client hangs up before the body is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
from collections.abc import Awaitable, Callable


class Trickle:
    """Answers every request with ``size`` bytes, ``chunk`` (one) every ``interval`` seconds."""

    def __init__(self, *, interval: float = 1.0, size: int = 1000, chunk: int = 1) -> None:
        self.interval = interval
        self.size = size
        self.chunk = chunk
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port: int = self._socket.getsockname()[1]
        self.connections = 0
        self.connected = threading.Event()
        """Set when a client first connects."""
        self.sent = 0
        """Body bytes sent, over every connection."""
        self.closed = threading.Event()
        """Set when a client hangs up before its body is done."""
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, name: str = "slow.png") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            self.connected.set()
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                                   + f"Content-Length: {self.size}\r\n\r\n".encode())
                for start in range(0, self.size, self.chunk):
                    # Waiting for the next chunk's turn, see at once if the client left.
                    readable, _, _ = select.select([connection], [], [], self.interval)
                    if readable and not connection.recv(65536):
                        self.closed.set()
                        return
                    piece = min(self.chunk, self.size - start)
                    connection.sendall(b"x" * piece)
                    self.sent += piece
            except OSError:
                self.closed.set()

    def close(self) -> None:
        self._socket.close()


async def moments_left_open(request: Callable[[str], Awaitable[object]], *,
                            tries: int = 10, moments: int = 10) -> list[int]:
    """Cancel ``request(url)`` (a download, an upload, against a fresh ``Trickle``) at each
    of the first ``moments`` loop turns after its connection is accepted, ``tries`` times
    each; the moments (loop turns after the accept) of the tries that left it open."""
    left_open = []
    for attempt in range(tries * moments):
        moment = attempt % moments
        trickle = Trickle(interval=1.0, size=1000)
        try:
            task = asyncio.ensure_future(request(trickle.url()))
            while not trickle.connected.is_set():
                if task.done():
                    break
                await asyncio.sleep(0)
            for _ in range(moment):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if not await asyncio.to_thread(trickle.closed.wait, 2):
                left_open.append(moment)
        finally:
            trickle.close()
    return left_open
