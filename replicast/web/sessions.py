"""Signed-in sessions of the web pages, and the CSRF tokens tied to them.

The session cookie holds no token. It names the API key by its token's digest, with
when the session ends and a random nonce, signed with a server key kept in the store
(every process on that store signs alike). The pages look the key up again through
``Accounts`` on every request, and ``Accounts`` forgets a key as soon as it is revoked,
so revoking the key ends its sessions at once.

A CSRF token is an HMAC of the session cookie under the same key: the pages' forms
carry it, and a POST whose token is not its session's own is refused. A token from
another session, or from before a new sign-in, does not pass.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from replicast.server_keys import mac

SECRET_NAME = "web-sessions"
LIFETIME_SECONDS = 14 * 86400
"""How long a sign-in lasts, unless its key is revoked first."""

_VERSION = "s1"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session cookie."""

    digest: str
    """The digest of the API token that signed in: it names the key."""
    expires: int
    """Unix time after which the cookie no longer counts."""
    value: str
    """The cookie's value."""


class Sessions:
    """Issues and checks session cookies and their CSRF tokens."""

    def __init__(self, key: str, *, lifetime: int = LIFETIME_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key.encode()
        self.lifetime = lifetime
        self._clock = clock

    def _mac(self, purpose: str, message: str) -> str:
        return mac(self._key, f"{purpose}\n{message}")

    def issue(self, digest: str) -> Session:
        """A new session for the key whose token has ``digest``."""
        expires = int(self._clock()) + self.lifetime
        body = f"{_VERSION}.{digest}.{expires}.{secrets.token_urlsafe(12)}"
        return Session(digest, expires, f"{body}.{self._mac('session', body)}")

    def read(self, value: str | None) -> Session | None:
        """The session in a cookie's value; None if it is missing, forged or expired."""
        if not value or len(value) > 256:
            return None
        body, _, mac = value.rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            return None
        _, digest, expires, _ = parts
        if not hmac.compare_digest(self._mac("session", body).encode(),
                                   mac.encode("utf-8", "replace")):
            return None
        if not _DIGEST.fullmatch(digest) or not expires.isdigit() or len(expires) > 12 \
                or int(expires) < self._clock():
            return None
        return Session(digest, int(expires), value)

    def csrf_token(self, session: Session) -> str:
        """The token the session's forms carry."""
        return self._mac("csrf", session.value)

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        """Whether ``token`` is the session's own CSRF token."""
        return bool(token) and hmac.compare_digest(self.csrf_token(session).encode(),
                                                   (token or "").encode("utf-8", "replace"))
