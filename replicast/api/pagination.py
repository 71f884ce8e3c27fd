"""Cursors for listing pages: opaque to clients, positions to us."""

from __future__ import annotations

import base64
import binascii

import orjson

from replicast import times
from replicast.errors import InvalidField, InvalidRequest
from replicast.keyset import Position

NEXT = "n"
PREVIOUS = "p"


def encode_cursor(direction: str, position: Position) -> str:
    """A cursor reading the page after (``NEXT``) or before (``PREVIOUS``) a position."""
    raw = orjson.dumps([direction, times.format_rfc3339(position[0]), position[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, Position]:
    """The direction and position in a cursor; ``InvalidRequest`` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, created_at, item_id = orjson.loads(raw)
        if direction not in (NEXT, PREVIOUS) or not isinstance(created_at, str) \
                or not isinstance(item_id, str):
            raise ValueError(direction)
        return direction, (times.parse_rfc3339(created_at), item_id)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidRequest.from_fields(
            [InvalidField("invalid_cursor", "cursor", "Invalid cursor: use a page's next or "
                          "previous URL as it was given")]
        ) from None
