"""The accounts repository's contract: what every store backend must do."""

from __future__ import annotations

from datetime import timedelta

from replicast import times
from replicast.accounts.account import hash_token, new_key


async def test_accounts_are_created_once(store):
    first = await store.accounts.ensure_account("carol")
    again = await store.accounts.ensure_account("carol")
    assert first == again
    assert first.username == "carol" and first.id > 0


async def test_keys_are_found_by_digest_until_revoked(store, account):
    key = new_key(account.id, "r8_secret", "laptop")
    await store.accounts.insert_key(key)
    found = await store.accounts.find_key(hash_token("r8_secret"))
    assert found == (key, account)
    assert await store.accounts.find_key(hash_token("r8_other")) is None
    assert [k.id for k, _ in await store.accounts.list_keys()] == [key.id]
    assert await store.accounts.revoke_key(key.id) is True
    assert await store.accounts.revoke_key(key.id) is False
    assert await store.accounts.find_key(hash_token("r8_secret")) is None
    (listed, owner), = await store.accounts.list_keys()
    assert listed.revoked_at is not None and owner == account


async def test_a_keys_expiry_is_kept(store, account):
    expires_at = times.now() + timedelta(hours=1)
    key = new_key(account.id, "r8_brief", "a command's", expires_at)
    await store.accounts.insert_key(key)
    found = await store.accounts.find_key(hash_token("r8_brief"))
    assert found == (key, account) and found[0].expires_at == expires_at
    (listed, _), = await store.accounts.list_keys()
    assert listed.expires_at == expires_at
