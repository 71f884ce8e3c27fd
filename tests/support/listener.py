"""A TCP listener that counts every connection made to it and answers with an image
(or, given ``redirect_to``, with a redirect there).

For proving that the server never reached an address: if a guard failed, the fetch
would get a valid response, and the count would say so.
"""

from __future__ import annotations

import io
import socket
import threading

from PIL import Image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


class Listener:
    def __init__(self, host: str = "127.0.0.1", *, redirect_to: str | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self._socket.listen(16)
        self.port: int = self._socket.getsockname()[1]
        self.connections = 0
        self._body = _png()
        self._redirect_to = redirect_to
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(65536)
                    if self._redirect_to is not None:
                        connection.sendall(
                            b"HTTP/1.1 302 Found\r\nConnection: close\r\nContent-Length: 0"
                            + f"\r\nLocation: {self._redirect_to}\r\n\r\n".encode())
                        continue
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
                        + f"Content-Length: {len(self._body)}\r\n\r\n".encode() + self._body)
                except OSError:
                    pass

    def close(self) -> None:
        self._socket.close()
