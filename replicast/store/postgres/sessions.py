"""The PostgreSQL store's web sessions and server secrets."""

from __future__ import annotations

from datetime import datetime

from replicast.store.postgres.access import PostgresAccess
from replicast.store.sessions import SessionStore, WebSession


class PostgresSessions(SessionStore):
    """Web sessions and server secrets in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def insert(self, session: WebSession) -> None:
        async with self._db.transaction() as c:
            await c.execute("DELETE FROM web_sessions WHERE expires_at <= $1",
                            session.created_at)
            await c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at,"
                            " expires_at) VALUES ($1, $2, $3, $4)", session.id_hash,
                            session.key_digest, session.created_at, session.expires_at)

    async def get(self, id_hash: str, now: datetime) -> WebSession | None:
        row = await self._db.fetchrow(
            "SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
            " WHERE id_hash = $1 AND expires_at > $2", id_hash, now)
        return None if row is None else WebSession(row[0], row[1], row[2], row[3])

    async def delete(self, id_hash: str) -> None:
        await self._db.execute("DELETE FROM web_sessions WHERE id_hash = $1", id_hash)

    async def server_secret(self, name: str, proposed: str) -> str:
        await self._db.execute("INSERT INTO server_secrets (name, value) VALUES ($1, $2)"
                               " ON CONFLICT (name) DO NOTHING", name, proposed)
        return str(await self._db.fetchval("SELECT value FROM server_secrets WHERE name = $1",
                                           name))
