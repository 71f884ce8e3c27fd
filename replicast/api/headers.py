"""The request headers Replicate's create endpoints take: ``Prefer`` and ``Cancel-After``."""

from __future__ import annotations

import re
from datetime import timedelta

from replicast import times
from replicast.errors import InvalidField, InvalidRequest

MAX_WAIT = 60
MIN_DEADLINE = timedelta(seconds=5)
MAX_DEADLINE = timedelta(hours=24)
# ASCII digits only (str.isdigit also takes "²").
_WAIT = re.compile(r"[0-9]{1,2}")


def _invalid(header: str, description: str) -> InvalidRequest:
    return InvalidRequest.from_fields([InvalidField("invalid_header", header, description)])


def parse_prefer(value: str | None) -> float | None:
    """Seconds to hold a create request open, or None when not asked to wait.

    ``wait`` means 60 seconds; ``wait=N`` means N (1 to 60). Other preferences in
    the header are ignored, as RFC 7240 asks.
    """
    if not value:
        return None
    for preference in value.split(","):
        token, equals, argument = preference.split(";", 1)[0].strip().partition("=")
        if token.strip().lower() != "wait":
            continue
        if not equals:
            return float(MAX_WAIT)
        seconds = argument.strip().strip('"')
        if not _WAIT.fullmatch(seconds) or not 1 <= int(seconds) <= MAX_WAIT:
            raise _invalid("Prefer", f"wait must be a whole number of seconds from 1 to "
                           f"{MAX_WAIT}, like wait=5; got {seconds[:20]!r}")
        return float(seconds)
    return None


def parse_cancel_after(value: str | None) -> timedelta | None:
    """The deadline a ``Cancel-After`` header sets, measured from creation.

    ``30`` or ``30s``, ``5m``, ``1h30m45s``; between 5 seconds and 24 hours.
    """
    if value is None:
        return None
    try:
        duration = times.parse_duration(value)
    except ValueError as exc:
        raise _invalid("Cancel-After", str(exc)) from None
    if not MIN_DEADLINE <= duration <= MAX_DEADLINE:
        raise _invalid("Cancel-After", f"{value[:40]!r} is out of range: the deadline must be "
                       "between 5 seconds and 24 hours")
    return duration
