"""Timestamps: UTC instants and their RFC 3339 form on the wire and in stores."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_rfc3339(instant: datetime) -> str:
    """``2024-04-22T11:15:15.504128Z``: fixed width, so strings sort like instants."""
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    # isoformat is much faster than strftime; its "+00:00" becomes "Z".
    return instant.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time; a value without a zone is taken as UTC.

    ``ValueError`` for anything else, including instants that do not fit in UTC.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
