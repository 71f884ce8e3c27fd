"""The sessions repository: web page sign-ins, and the server's own secrets."""

from __future__ import annotations

import abc
import secrets
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WebSession:
    """A web page sign-in, kept server-side: its cookie holds only a random id."""

    id_hash: str
    """SHA-256 of the cookie's random id: the id itself is never stored."""
    key_digest: str
    """The digest of the API token that signed in: it names the key."""
    created_at: datetime
    expires_at: datetime


class SessionStore(abc.ABC):
    """Web sessions and server secrets. Every method is safe to call from the event loop."""

    @abc.abstractmethod
    async def insert(self, session: WebSession) -> None:
        """Keep a new web session, removing those that ended before it began."""

    @abc.abstractmethod
    async def get(self, id_hash: str, now: datetime) -> WebSession | None:
        """The session with this id hash, unless it has ended by ``now``."""

    @abc.abstractmethod
    async def delete(self, id_hash: str) -> None:
        """End a session (signing out); nothing if there is none."""

    @abc.abstractmethod
    async def server_secret(self, name: str, proposed: str) -> str:
        """The server's secret called ``name``; ``proposed`` becomes it if there is none."""

    async def server_key(self, name: str) -> str:
        """The server's signing key called ``name``, made now if there is none yet (one
        per purpose, shared by every process on the database: ``replicast.server_keys``)."""
        return await self.server_secret(name, secrets.token_urlsafe(32))
