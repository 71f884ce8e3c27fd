"""The SQLite store's accounts and API keys."""

from __future__ import annotations

import sqlite3
from typing import Any

from replicast import times
from replicast.accounts.account import Account, ApiKey
from replicast.store import sql
from replicast.store.accounts import AccountStore
from replicast.store.sqlite.access import SQLiteAccess

_KEY_COLUMNS = ("k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at,"
                " k.expires_at")


class SQLiteAccounts(AccountStore):
    """Accounts and keys in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

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

        return _account(await self._db.write(call))

    async def insert_key(self, key: ApiKey) -> None:
        query = (
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        args = (key.id, key.account_id, key.token_hash, key.hint, key.label,
                times.format_rfc3339(key.created_at),
                None if key.expires_at is None else times.format_rfc3339(key.expires_at))
        await self._db.write(lambda c: c.execute(query, args).rowcount)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        query = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = ? AND k.revoked_at IS NULL"
        )
        row = await self._db.read(lambda c: c.execute(query, (token_hash,)).fetchone())
        return None if row is None else (_key(row[:8]), _account(row[8:]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        query = (
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id"
        )
        rows = await self._db.scan(lambda c: c.execute(query).fetchall())
        return [(_key(row[:8]), _account(row[8:])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        query = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        args = (times.format_rfc3339(times.now()), key_id)
        changed = await self._db.write(lambda c: c.execute(query, args).rowcount)
        return changed > 0

    async def revocation_marker(self) -> tuple[int, str | None]:
        query = "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL"
        row = await self._db.read(lambda c: c.execute(query).fetchone())
        return int(row[0]), row[1]


def _account(row: tuple[Any, ...]) -> Account:
    return Account(id=row[0], username=row[1], created_at=times.parse_rfc3339(row[2]))


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
        created_at=times.parse_rfc3339(row[5]), revoked_at=sql.SQLITE.parse_time(row[6]),
        expires_at=sql.SQLITE.parse_time(row[7]),
    )
