"""The accounts repository: accounts and their API keys (digests only, never tokens)."""

from __future__ import annotations

import abc

from replicast.accounts.account import Account, ApiKey


class AccountStore(abc.ABC):
    """Accounts and keys. Every method is safe to call from the event loop."""

    @abc.abstractmethod
    async def ensure_account(self, username: str) -> Account:
        """The account with this username, created if missing."""

    @abc.abstractmethod
    async def insert_key(self, key: ApiKey) -> None:
        """Store a new API key."""

    @abc.abstractmethod
    async def find_key(self, token_hash: str) -> tuple[ApiKey, Account] | None:
        """The unrevoked key with this digest and its account, or None; the key may have
        expired (``Accounts`` checks)."""

    @abc.abstractmethod
    async def list_keys(self) -> list[tuple[ApiKey, Account]]:
        """Every key, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False if no unrevoked key has this id."""

    @abc.abstractmethod
    async def revocation_marker(self) -> tuple[int, str | None]:
        """Something that changes whenever a key is revoked, by any process."""
