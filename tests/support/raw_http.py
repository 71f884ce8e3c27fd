"""HTTP/1.1 over a plain socket, for sending what no well-behaved client would: endless
heads, trickled bodies, connections from chosen loopback addresses."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """A response as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes


@contextlib.contextmanager
def connect(port: int, source: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A connection to the server on loopback ``port``, from the address ``source``
    (any of 127.0.0.0/8), closed at the end of the block."""
    with socket.create_connection(("127.0.0.1", port), timeout=30,
                                  source_address=(source, 0)) as sock:
        yield sock


def readable(sock: socket.socket, timeout: float = 0.0) -> bool:
    """Whether the server has sent something (or closed) within ``timeout`` seconds."""
    return bool(select.select([sock], [], [], timeout)[0])


def read_reply(sock: socket.socket) -> Reply | None:
    """The next response on ``sock``; None if the server closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Reply(int(status_line.split()[1]), headers, body[:length])


def closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` seconds (reading and
    dropping anything it sends first)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if readable(sock, max(0.0, give_up - time.monotonic())):
            try:
                if not sock.recv(65536):
                    return True
            except ConnectionError:
                return True
    return False


def get(path: str, *headers: str) -> bytes:
    """A GET request's bytes, with ``Host`` and any more header lines."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def trickle(sock: socket.socket, pieces: Iterator[bytes], interval: float,
            timeout: float) -> tuple[Reply | None, float]:
    """Send ``pieces`` one every ``interval`` seconds until the server answers or closes
    (or ``timeout`` seconds pass): its reply (None if it closed without one, or never
    answered) and the seconds that took."""
    began = time.monotonic()
    for piece in pieces:
        if readable(sock, interval) or time.monotonic() - began > timeout:
            break
        try:
            sock.sendall(piece)
        except ConnectionError:
            break
    if not readable(sock, max(0.0, timeout - (time.monotonic() - began))):
        return None, time.monotonic() - began
    try:
        reply = read_reply(sock)
    except ConnectionError:
        reply = None
    return reply, time.monotonic() - began
