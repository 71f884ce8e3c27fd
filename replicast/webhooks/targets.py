"""Which URLs webhooks may go to, checked when a prediction is created."""

from __future__ import annotations

import httpx

from replicast.errors import InvalidField, InvalidRequest
from replicast.net import obviously_private

MAX_URL_LENGTH = 2048


def _refuse(kind: str, description: str) -> InvalidRequest:
    return InvalidRequest.from_fields([InvalidField(kind, "webhook", description)])


def check_target(url: str, *, allow_private: bool) -> str:
    """``url`` if a webhook can be sent to it; ``InvalidRequest`` saying why not.

    The host is checked here when it says by itself that it is private (an IP literal,
    ``localhost``); names are checked again, resolved, when each delivery connects.
    """
    if len(url) > MAX_URL_LENGTH:
        raise _refuse("format", f"webhook must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
        host = parsed.host
        host.encode("idna")
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise _refuse("format", "webhook must be a valid http(s) URL") from None
    if parsed.scheme not in ("http", "https") or not host or not 0 < (parsed.port or 80) < 65536:
        raise _refuse("format", "webhook must be a valid http(s) URL")
    if not allow_private and obviously_private(host):
        raise _refuse(
            "private_address",
            f"{host} is not a public address; webhooks cannot reach loopback or private "
            "networks unless the server sets REPLICAST_ALLOW_PRIVATE_URLS",
        )
    return url
