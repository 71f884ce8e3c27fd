"""The PostgreSQL store's other records: uploaded files, accounts, keys, sessions, secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from replicast import times
from replicast.accounts.account import Account, ApiKey
from replicast.files.file import StoredFile
from replicast.store import sql
from replicast.store.base import FilePageQuery, WebSession
from replicast.store.postgres_access import PostgresCalls

_KEY_COLUMNS = "k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at"


class PostgresRecords(PostgresCalls):
    """Uploaded files, accounts and their keys, web sessions and server secrets."""

    async def server_secret(self, name: str, proposed: str) -> str:
        await self._execute("INSERT INTO server_secrets (name, value) VALUES ($1, $2)"
                            " ON CONFLICT (name) DO NOTHING", name, proposed)
        return str(await self._fetchval("SELECT value FROM server_secrets WHERE name = $1",
                                        name))

    # web sessions

    async def insert_web_session(self, session: WebSession) -> None:
        async with self._transaction() as c:
            await c.execute("DELETE FROM web_sessions WHERE expires_at <= $1",
                            session.created_at)
            await c.execute("INSERT INTO web_sessions (id_hash, key_digest, created_at,"
                            " expires_at) VALUES ($1, $2, $3, $4)", session.id_hash,
                            session.key_digest, session.created_at, session.expires_at)

    async def get_web_session(self, id_hash: str, now: datetime) -> WebSession | None:
        row = await self._fetchrow(
            "SELECT id_hash, key_digest, created_at, expires_at FROM web_sessions"
            " WHERE id_hash = $1 AND expires_at > $2", id_hash, now)
        return None if row is None else WebSession(row[0], row[1], row[2], row[3])

    async def delete_web_session(self, id_hash: str) -> None:
        await self._execute("DELETE FROM web_sessions WHERE id_hash = $1", id_hash)


    # uploaded files

    async def insert_file(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.POSTGRES)
        await self._execute(statement.sql, *statement.args)

    async def get_file(self, account_id: int, file_id: str) -> StoredFile | None:
        statement = sql.get_file(account_id, file_id, sql.POSTGRES)
        row = await self._fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def get_file_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        statement = sql.get_file_of_owner(username, file_id, sql.POSTGRES)
        row = await self._fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def list_files(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.POSTGRES)
        page = [sql.file_from_row(row, sql.POSTGRES)
                for row in await self._fetch(statement.sql, *statement.args)]
        if query.after is not None:
            page.reverse()
        return page

    async def delete_file(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.POSTGRES)
        return bool(await self._fetch(statement.sql, *statement.args))

    async def files_bytes(self, account_id: int, now: datetime) -> int:
        return int(await self._fetchval(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = $1"
            " AND (expires_at IS NULL OR expires_at > $2)", account_id, now))

    async def expired_files(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.POSTGRES)
        return [row[0] for row in await self._fetch(statement.sql, *statement.args)]

    async def delete_files(self, file_ids: Sequence[str]) -> int:
        result = await self._execute("DELETE FROM files WHERE id = ANY($1::text[])",
                                     list(file_ids))
        return int(result.rsplit(" ", 1)[-1])

    async def present_files(self, file_ids: Sequence[str]) -> set[str]:
        rows = await self._fetch("SELECT id FROM files WHERE id = ANY($1::text[])",
                                 list(file_ids))
        return {row[0] for row in rows}

    # accounts and keys

    async def ensure_account(self, username: str) -> Account:
        await self._execute("INSERT INTO accounts (username, created_at) VALUES ($1, $2)"
                            " ON CONFLICT (username) DO NOTHING", username, times.now())
        row = await self._fetchrow(
            "SELECT id, username, created_at FROM accounts WHERE username = $1", username)
        return Account(id=row[0], username=row[1], created_at=row[2])

    async def insert_key(self, key: ApiKey) -> None:
        await self._execute(
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)", key.id, key.account_id, key.token_hash,
            key.hint, key.label, key.created_at)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        row = await self._fetchrow(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = $1 AND k.revoked_at IS NULL", token_hash)
        return None if row is None else (_key(row), Account(row[7], row[8], row[9]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        rows = await self._fetch(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id")
        return [(_key(row), Account(row[7], row[8], row[9])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        result = await self._execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            times.now(), key_id)
        return result != "UPDATE 0"

    async def revocations(self) -> tuple[int, str | None]:
        row = await self._fetchrow(
            "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL")
        return int(row[0]), None if row[1] is None else times.format_rfc3339(row[1])



def _key(row: Any) -> ApiKey:
    return ApiKey(id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
                  created_at=row[5], revoked_at=row[6])

