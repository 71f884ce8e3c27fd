"""Signed-in sessions of the web pages, and the CSRF tokens tied to them.

A session lives in the store. Its cookie holds only a random id (256 bits), and the
store keeps only that id's SHA-256, with the API key the session signed in with (by
its token's digest) and when it ends: reading the database gives no cookie, and
signing out deletes the session, so a copy of the cookie is worth nothing afterwards.
The pages look the key up again through ``Accounts`` on every request, and
``Accounts`` forgets a key as soon as it is revoked, so revoking the key ends its
sessions at once.

A CSRF token is an HMAC of the session cookie under a server key kept in the store
(every process on that store signs alike): the pages' forms carry it, and a POST
whose token is not its session's own is refused. A token from another session, or
from before a new sign-in, does not pass.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from replicast import times
from replicast.server_keys import mac
from replicast.store.sessions import SessionStore, WebSession

SECRET_NAME = "web-sessions"
LIFETIME_SECONDS = 14 * 86400
"""How long a sign-in lasts, unless it signs out or its key is revoked first."""

_VERSION = "s2"
_ID = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class Session:
    """A session found from its cookie."""

    digest: str
    """The digest of the API token that signed in: it names the key."""
    expires_at: datetime
    value: str
    """The cookie's value."""


class Sessions:
    """Starts, finds and ends sessions; issues and checks their CSRF tokens."""

    def __init__(self, key: str, store: SessionStore, *, lifetime: int = LIFETIME_SECONDS,
                 clock: Callable[[], datetime] = times.now) -> None:
        self._key = key.encode()
        self._store = store
        self.lifetime = lifetime
        self._clock = clock

    async def issue(self, digest: str) -> Session:
        """A new session for the key whose token has ``digest``."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + timedelta(seconds=self.lifetime)
        await self._store.insert(
            WebSession(_hash(session_id), digest, now, expires_at))
        return Session(digest, expires_at, f"{_VERSION}.{session_id}")

    async def read(self, value: str | None) -> Session | None:
        """The session a cookie's value names; None if it is malformed, unknown (never
        issued, or signed out) or past its end."""
        id_hash = _id_hash(value)
        if id_hash is None:
            return None
        found = await self._store.get(id_hash, self._clock())
        if found is None:
            return None
        assert value is not None
        return Session(found.key_digest, found.expires_at, value)

    async def forget(self, value: str | None) -> None:
        """End the session a cookie's value names, if it names one, whatever state its
        key is in: every copy of that cookie is worth nothing afterwards."""
        id_hash = _id_hash(value)
        if id_hash is not None:
            await self._store.delete(id_hash)

    def _mac(self, purpose: str, message: str) -> str:
        return mac(self._key, f"{purpose}\n{message}")

    def csrf_token(self, session: Session) -> str:
        """The token the session's forms carry."""
        return self._mac("csrf", session.value)

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        """Whether ``token`` is the session's own CSRF token."""
        return bool(token) and hmac.compare_digest(self.csrf_token(session).encode(),
                                                   (token or "").encode("utf-8", "replace"))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _id_hash(value: str | None) -> str | None:
    """The stored hash of the id a well-formed cookie value holds; None otherwise."""
    if not value or len(value) > 64:
        return None
    version, _, session_id = value.partition(".")
    if version != _VERSION or not _ID.fullmatch(session_id):
        return None
    return _hash(session_id)
