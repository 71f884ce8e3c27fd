"""The accounts service: authenticating tokens (remembered while valid) and making keys."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from replicast import times
from replicast.accounts.account import (
    DEFAULT_ACCOUNT,
    Account,
    ApiKey,
    hash_token,
    new_key,
    new_token,
    parse_authorization,
)
from replicast.errors import ConfigError, StoreUnavailable, Unauthenticated

if TYPE_CHECKING:
    from replicast.store.accounts import AccountStore

log = logging.getLogger(__name__)


class Accounts:
    """Authenticates tokens and manages keys.

    Valid tokens are remembered, so most requests need no read. Revocations, by this
    process or by ``replicast keys revoke`` elsewhere, are noticed by ``watch``
    within ``REVOCATION_CHECK_SECONDS``; then the memory is cleared.
    """

    REVOCATION_CHECK_SECONDS = 0.25
    _CACHE_LIMIT = 10_000

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self._known: dict[str, tuple[Account, datetime | None]] = {}
        """Digest -> the account and when the key expires."""
        self._revocations: tuple[int, str | None] | None = None

    async def authenticate(self, authorization: str | None) -> Account:
        """The account an ``Authorization`` header's token belongs to."""
        return (await self.identify(authorization))[1]

    async def identify(self, authorization: str | None) -> tuple[str, Account]:
        """The digest of an ``Authorization`` header's token, and its account."""
        digest = hash_token(parse_authorization(authorization))
        return digest, await self.by_digest(digest)

    async def by_digest(self, digest: str) -> Account:
        """The account of the unrevoked key whose token has this digest (web sessions
        name their key so); ``Unauthenticated`` if there is none."""
        known = self._known.get(digest)
        if known is None:
            found = await self.store.find_key(digest)
            if found is None or found[0].expired(times.now()):
                raise Unauthenticated("You did not pass a valid authentication token")
            known = found[1], found[0].expires_at
            if len(self._known) < self._CACHE_LIMIT:
                self._known[digest] = known
        account, expires_at = known
        if expires_at is not None and expires_at <= times.now():
            self._known.pop(digest, None)
            raise Unauthenticated("You did not pass a valid authentication token")
        return account

    async def watch(self) -> None:
        """Forget remembered tokens whenever a key is revoked; runs until canceled."""
        while True:
            try:
                revocations = await self.store.revocation_marker()
            except Exception as exc:
                # Without this check, revoked tokens could keep working: forget them all.
                if not isinstance(exc, StoreUnavailable):  # the store logs each outage once
                    log.exception("could not check for revoked keys")
                self._known.clear()
            else:
                if revocations != self._revocations:
                    self._known.clear()
                    self._revocations = revocations
            await asyncio.sleep(self.REVOCATION_CHECK_SECONDS)

    async def create_key(self, username: str = DEFAULT_ACCOUNT, label: str = "",
                         token: str | None = None, lifetime: timedelta | None = None
                         ) -> tuple[str, ApiKey]:
        """A new token for ``username`` (created if needed), and its stored key; with a
        ``lifetime``, the key expires after it."""
        account = await self.store.ensure_account(username)
        token = token or new_token()
        expires_at = None if lifetime is None else times.now() + lifetime
        key = new_key(account.id, token, label, expires_at)
        await self.store.insert_key(key)
        return token, key

    async def ensure_token(self, token: str) -> bool:
        """Make ``token`` valid for the default account; True if it was new."""
        digest = hash_token(token)
        if await self.store.find_key(digest) is not None:
            return False
        if any(key.token_hash == digest for key, _ in await self.store.list_keys()):
            raise ConfigError("REPLICAST_API_TOKEN names a revoked token; unset it or pick another")
        await self.create_key(DEFAULT_ACCOUNT, "REPLICAST_API_TOKEN", token)
        return True

    async def first_start_token(self) -> str | None:
        """A token for the default account if no key exists at all, else None."""
        if await self.store.list_keys():
            return None
        token, _ = await self.create_key(DEFAULT_ACCOUNT, "created at first start")
        return token
