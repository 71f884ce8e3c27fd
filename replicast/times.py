"""Timestamps: UTC instants and their RFC 3339 form on the wire and in stores."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# ASCII digits only (str.isdigit also takes "²"), and few of them, so that nothing
# overflows.
_SECONDS = re.compile(r"[0-9]{1,7}")
_DURATION = re.compile(r"(?:(?P<h>[0-9]{1,5})h)?(?:(?P<m>[0-9]{1,6})m)?(?:(?P<s>[0-9]{1,7})s)?")


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


def parse_duration(text: str) -> timedelta:
    """``30`` or ``30s``, ``5m``, ``1h30m45s``: a whole number of seconds, in units or not.

    ``ValueError`` for anything else.
    """
    value = text.strip().lower()
    if _SECONDS.fullmatch(value):
        return timedelta(seconds=int(value))
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        raise ValueError(f"{text[:40]!r} is not a duration; use a number of seconds or "
                         "units like 30s, 5m, 1h30m")
    return timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0),
                     seconds=int(match["s"] or 0))
