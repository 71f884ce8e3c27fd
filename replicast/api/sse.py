"""Server-Sent Events on the wire: one event as the bytes that carry it.

Event data may hold any text a model printed or produced, and SSE has no escape: a line
end inside the data would start a new field, so a model could forge an ``event: done``
and end a client's stream early. Each piece between line ends therefore gets its own
``data:`` line, which every client joins back with ``\\n``. The line ends split on are
those of the SSE specification (``\\r\\n``, ``\\r``, ``\\n``) and also those Python's
``str.splitlines`` knows (vertical tab, form feed, the information separators, NEL, and
U+2028/U+2029), since the official Python client reads the stream with httpx's
``iter_lines``, which ends a line at any of them. A client thus sees each of these
characters in text as ``\\n``. JSON data keeps them as ``\\u`` escapes instead, so it
arrives intact.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

LINE_END = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# orjson escapes every character below U+0020; these are the line ends it leaves raw.
_RAW_IN_JSON = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode(event: str, data: str, event_id: str) -> bytes:
    """One event: its name, its id, then each line of ``data`` as a ``data:`` field."""
    lines = "".join(f"data: {line}\n" for line in LINE_END.split(data))
    return f"event: {event}\nid: {event_id}\n{lines}\n".encode()


def json_data(value: Any) -> str:
    """``value`` as JSON that holds no line end, so that it travels as one ``data:`` line."""
    return orjson.dumps(value).decode().translate(_RAW_IN_JSON)
