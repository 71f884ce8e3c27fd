"""Identifiers: prediction ids and the unguessable tokens in URLs.

The ids and tokens the store indexes begin with the time they were made (``ordered``):
each new one sorts after the last, so a new row's index entries go at the end of the
index, into pages written a moment ago, rather than at a random place among millions.
With random ids every insert into a large store touches a page of each such index that
nothing else needs, and the WAL and its checkpoints grow with the store; ordered, they
stay as cheap as in an empty one. What follows the time is random, enough to keep them
unguessable.
"""

from __future__ import annotations

import secrets
import threading
import time

# Replicate's ids since 2024 use this lower-case base32 alphabet (no i, l, o, u).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Each byte as the character of its low 5 bits: bytes.translate does it at C speed.
_CHARACTERS = bytes(ord(ALPHABET[byte & 31]) for byte in range(256))


class _RandomBytes:
    """Bytes from the OS's CSPRNG, drawn 4 KiB at a time: ids are made on every request,
    and a system call for each would cost more than the rest of making one."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._buffer = b""
        self._used = 0  # bytes of the buffer already taken (each is taken once)
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._buffer) - self._used < count:
                self._buffer = secrets.token_bytes(max(self._chunk, count))
                self._used = 0
            start = self._used
            self._used += count
            return self._buffer[start:self._used]


_random = _RandomBytes()


def random_id(length: int = 26) -> str:
    """A random id of ``length`` characters from ``ALPHABET`` (5 bits each)."""
    return _random.take(length).translate(_CHARACTERS).decode("ascii")


_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_TIME_CHARS = 8  # 40 bits of milliseconds: until 2054


def ordered_id(length: int, *, now_ms: int | None = None) -> str:
    """An id of ``length`` characters from ``ALPHABET``: the millisecond it was made
    (8 characters, so that ids sort by it), then random ones."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return _stamp(ms) + random_id(length - _TIME_CHARS)


_last_stamp = (-1, "")  # a prediction's id and stream token are made in the same millisecond


def _stamp(ms: int) -> str:
    """The 8 characters of millisecond ``ms``."""
    global _last_stamp
    last = _last_stamp  # one read: another thread may replace it meanwhile
    if last[0] == ms:
        return last[1]
    since = ms - _EPOCH_MS
    stamp = bytes((since >> shift) & 31 for shift in range(5 * _TIME_CHARS - 5, -1, -5))
    text = stamp.translate(_CHARACTERS).decode("ascii")
    _last_stamp = (ms, text)
    return text


def prediction_id() -> str:
    """A new prediction id: 26 lower-case alphanumerics, ordered by time, 90 random bits."""
    return ordered_id(26)


def file_id() -> str:
    """A new uploaded file's id: shaped like a prediction id, and as unguessable."""
    return ordered_id(26)


def url_token() -> str:
    """A token for a URL that must work without the API token: 220 random bits after
    the time it was made."""
    return ordered_id(52)


def is_prediction_id(value: str) -> bool:
    """Whether ``value`` has the shape of a prediction id."""
    return len(value) == 26 and all(c in ALPHABET for c in value)


def is_file_id(value: str) -> bool:
    """Whether ``value`` has the shape of a file id."""
    return is_prediction_id(value)
