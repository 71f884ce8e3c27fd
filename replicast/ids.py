"""Identifiers: prediction ids and the unguessable tokens in URLs."""

from __future__ import annotations

import secrets
import threading

# Replicate's ids since 2024 use this lower-case base32 alphabet (no i, l, o, u).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class _RandomBytes:
    """Bytes from the OS's CSPRNG, drawn 4 KiB at a time: ids are made on every request,
    and a system call for each would cost more than the rest of making one."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._buffer = b""
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._buffer) < count:
                self._buffer = secrets.token_bytes(max(self._chunk, count))
            taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken


_random = _RandomBytes()


def random_id(length: int = 26) -> str:
    """A random id of ``length`` characters from ``ALPHABET`` (5 bits each)."""
    return "".join(ALPHABET[byte & 31] for byte in _random.take(length))


def prediction_id() -> str:
    """A new prediction id: 26 lower-case alphanumerics, 130 random bits."""
    return random_id(26)


def file_id() -> str:
    """A new uploaded file's id: shaped like a prediction id, and as unguessable."""
    return random_id(26)


def url_token() -> str:
    """A token for a URL that must work without the API token: 260 random bits."""
    return random_id(52)


def is_prediction_id(value: str) -> bool:
    """Whether ``value`` has the shape of a prediction id."""
    return len(value) == 26 and all(c in ALPHABET for c in value)


def is_file_id(value: str) -> bool:
    """Whether ``value`` has the shape of a file id."""
    return is_prediction_id(value)
