"""The SQLite store's other records: uploaded files, accounts, keys, sessions, secrets."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from replicast import times
from replicast.accounts.account import Account, ApiKey
from replicast.files.file import StoredFile
from replicast.store import sql
from replicast.store.base import FilePageQuery, WebSession
from replicast.store.sqlite_access import SQLiteCalls

_ts = sql.SQLITE.time
_parse_ts = sql.SQLITE.parse_time


class SQLiteRecords(SQLiteCalls):
    """Uploaded files, accounts and their keys, web sessions and server secrets."""

    async def server_secret(self, name: str, proposed: str) -> str:
        def call(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)"
                      " ON CONFLICT (name) DO NOTHING", (name, proposed))
            row = c.execute("SELECT value FROM server_secrets WHERE name = ?",
                            (name,)).fetchone()
            return str(row[0])

        return await self._write(call)

    # web sessions

    async def insert_web_session(self, session: WebSession) -> None:
        created, expires = (times.format_rfc3339(t)
                            for t in (session.created_at, session.expires_at))

        def call(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (created,))
            c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at, expires_at)"
                      " VALUES (?, ?, ?, ?)", (session.id_hash, session.key_digest,
                                               created, expires))

        await self._write(call)

    async def get_web_session(self, id_hash: str, now: datetime) -> WebSession | None:
        query = ("SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
                 " WHERE id_hash = ? AND expires_at > ?")
        args = (id_hash, times.format_rfc3339(now))
        row = await self._read(lambda c: c.execute(query, args).fetchone())
        if row is None:
            return None
        return WebSession(row[0], row[1], times.parse_rfc3339(row[2]),
                          times.parse_rfc3339(row[3]))

    async def delete_web_session(self, id_hash: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM web_sessions WHERE id_hash = ?",
                                              (id_hash,)).rowcount)


    # uploaded files

    async def insert_file(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.SQLITE)
        await self._write(lambda c: c.execute(statement.sql, statement.args).rowcount)

    async def get_file(self, account_id: int, file_id: str) -> StoredFile | None:
        return await self._one_file(sql.get_file(account_id, file_id, sql.SQLITE))

    async def get_file_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        return await self._one_file(sql.get_file_of_owner(username, file_id, sql.SQLITE))

    async def _one_file(self, statement: sql.Statement) -> StoredFile | None:
        row = await self._read(lambda c: c.execute(statement.sql, statement.args).fetchone())
        return None if row is None else sql.file_from_row(row, sql.SQLITE)

    async def list_files(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.SQLITE)
        rows = await self._scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        page = [sql.file_from_row(row, sql.SQLITE) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return page

    async def delete_file(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.SQLITE)
        rows = await self._write(lambda c: c.execute(statement.sql, statement.args).fetchall())
        if rows:
            self._db.scrub_soon()
        return bool(rows)

    async def files_bytes(self, account_id: int, now: datetime) -> int:
        row = await self._read(lambda c: c.execute(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (account_id, _ts(now))).fetchone())
        return int(row[0])

    async def expired_files(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.SQLITE)
        rows = await self._scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        return [row[0] for row in rows]

    async def delete_files(self, file_ids: Sequence[str]) -> int:
        if not file_ids:
            return 0
        query = f"DELETE FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        deleted = int(await self._write(lambda c: c.execute(query, args).rowcount))
        if deleted:
            self._db.scrub_soon()
        return deleted

    async def present_files(self, file_ids: Sequence[str]) -> set[str]:
        if not file_ids:
            return set()
        query = f"SELECT id FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        rows = await self._read(lambda c: c.execute(query, args).fetchall())
        return {row[0] for row in rows}

    # accounts and keys

    async def ensure_account(self, username: str) -> Account:
        def call(c: sqlite3.Connection) -> Any:
            c.execute(
                "INSERT INTO accounts (username, created_at) VALUES (?, ?)"
                " ON CONFLICT (username) DO NOTHING",
                (username, times.format_rfc3339(times.now())),
            )
            return c.execute(
                "SELECT id, username, created_at FROM accounts WHERE username = ?", (username,)
            ).fetchone()

        return _account(await self._write(call))

    async def insert_key(self, key: ApiKey) -> None:
        sql = (
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        args = (key.id, key.account_id, key.token_hash, key.hint, key.label,
                times.format_rfc3339(key.created_at))
        await self._write(lambda c: c.execute(sql, args).rowcount)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        sql = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = ? AND k.revoked_at IS NULL"
        )
        row = await self._read(lambda c: c.execute(sql, (token_hash,)).fetchone())
        return None if row is None else (_key(row[:7]), _account(row[7:]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        sql = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id"
        )
        rows = await self._scan(lambda c: c.execute(sql).fetchall())
        return [(_key(row[:7]), _account(row[7:])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        sql = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        args = (times.format_rfc3339(times.now()), key_id)
        changed = await self._write(lambda c: c.execute(sql, args).rowcount)
        return changed > 0


    async def revocations(self) -> tuple[int, str | None]:
        sql = "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL"
        row = await self._read(lambda c: c.execute(sql).fetchone())
        return int(row[0]), row[1]




_KEY_COLUMNS = "k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at"


def _account(row: tuple[Any, ...]) -> Account:
    return Account(id=row[0], username=row[1], created_at=times.parse_rfc3339(row[2]))


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
        created_at=times.parse_rfc3339(row[5]), revoked_at=_parse_ts(row[6]),
    )

