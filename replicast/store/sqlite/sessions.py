"""The SQLite store's web sessions and server secrets."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from replicast import times
from replicast.store.sessions import SessionStore, WebSession
from replicast.store.sqlite.access import SQLiteAccess


class SQLiteSessions(SessionStore):
    """Web sessions and server secrets in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

    async def insert(self, session: WebSession) -> None:
        created, expires = (times.format_rfc3339(t)
                            for t in (session.created_at, session.expires_at))

        def call(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (created,))
            c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at, expires_at)"
                      " VALUES (?, ?, ?, ?)", (session.id_hash, session.key_digest,
                                               created, expires))

        await self._db.write(call)

    async def get(self, id_hash: str, now: datetime) -> WebSession | None:
        query = ("SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
                 " WHERE id_hash = ? AND expires_at > ?")
        args = (id_hash, times.format_rfc3339(now))
        row = await self._db.read(lambda c: c.execute(query, args).fetchone())
        if row is None:
            return None
        return WebSession(row[0], row[1], times.parse_rfc3339(row[2]),
                          times.parse_rfc3339(row[3]))

    async def delete(self, id_hash: str) -> None:
        await self._db.write(lambda c: c.execute("DELETE FROM web_sessions WHERE id_hash = ?",
                                                 (id_hash,)).rowcount)

    async def server_secret(self, name: str, proposed: str) -> str:
        def call(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)"
                      " ON CONFLICT (name) DO NOTHING", (name, proposed))
            row = c.execute("SELECT value FROM server_secrets WHERE name = ?",
                            (name,)).fetchone()
            return str(row[0])

        return await self._db.write(call)
