"""The PostgreSQL store's accounts and API keys."""

from __future__ import annotations

from typing import Any

from replicast import times
from replicast.accounts.account import Account, ApiKey
from replicast.store.accounts import AccountStore
from replicast.store.postgres.access import PostgresAccess

_KEY_COLUMNS = ("k.id, k.account_id, k.token_hash, k.hint, k.label, k.created_at, k.revoked_at,"
                " k.expires_at")


class PostgresAccounts(AccountStore):
    """Accounts and keys in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def ensure_account(self, username: str) -> Account:
        await self._db.execute("INSERT INTO accounts (username, created_at) VALUES ($1, $2)"
                               " ON CONFLICT (username) DO NOTHING", username, times.now())
        row = await self._db.fetchrow(
            "SELECT id, username, created_at FROM accounts WHERE username = $1", username)
        return Account(id=row[0], username=row[1], created_at=row[2])

    async def insert_key(self, key: ApiKey) -> None:
        await self._db.execute(
            "INSERT INTO api_keys (id, account_id, token_hash, hint, label, created_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", key.id, key.account_id,
            key.token_hash, key.hint, key.label, key.created_at, key.expires_at)

    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        row = await self._db.fetchrow(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id"
            " WHERE k.token_hash = $1 AND k.revoked_at IS NULL", token_hash)
        return None if row is None else (_key(row), Account(row[8], row[9], row[10]))

    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        rows = await self._db.fetch(
            f"SELECT {_KEY_COLUMNS}, a.id, a.username, a.created_at FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id ORDER BY k.created_at, k.id")
        return [(_key(row), Account(row[8], row[9], row[10])) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        result = await self._db.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            times.now(), key_id)
        return result != "UPDATE 0"

    async def revocation_marker(self) -> tuple[int, str | None]:
        row = await self._db.fetchrow(
            "SELECT count(*), max(revoked_at) FROM api_keys WHERE revoked_at IS NOT NULL")
        return int(row[0]), None if row[1] is None else times.format_rfc3339(row[1])


def _key(row: Any) -> ApiKey:
    return ApiKey(id=row[0], account_id=row[1], token_hash=row[2], hint=row[3], label=row[4],
                  created_at=row[5], revoked_at=row[6], expires_at=row[7])
