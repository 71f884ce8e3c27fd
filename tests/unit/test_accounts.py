import asyncio
from datetime import timedelta

import pytest

from replicast import times
from replicast.accounts.account import hash_token, new_token, parse_authorization
from replicast.accounts.service import Accounts
from replicast.errors import ConfigError, Unauthenticated
from replicast.store.sqlite.store import SQLiteStore


@pytest.fixture
async def accounts(tmp_path, monkeypatch):
    monkeypatch.setattr(Accounts, "REVOCATION_CHECK_SECONDS", 0.01)
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    accounts = Accounts(store.accounts)
    watcher = asyncio.create_task(accounts.watch())
    yield accounts
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    await store.close()


@pytest.mark.parametrize("header", ["Bearer r8_x", "Token r8_x", "bearer   r8_x  "])
def test_both_schemes_are_accepted(header):
    assert parse_authorization(header) == "r8_x"


@pytest.mark.parametrize("header,detail", [
    (None, "You did not pass an authentication token"),
    ("", "You did not pass an authentication token"),
    ("Basic abc", "You did not pass a valid authentication token"),
    ("Bearer", "You did not pass a valid authentication token"),
])
def test_missing_or_malformed_authorization(header, detail):
    with pytest.raises(Unauthenticated, match=detail):
        parse_authorization(header)


def test_tokens_look_like_replicates_and_are_stored_as_digests():
    token = new_token()
    assert token.startswith("r8_") and len(token) == 40 and token[3:].isalnum()
    assert hash_token(token) != token and len(hash_token(token)) == 64
    assert new_token() != token


async def test_keys_authenticate_their_account_until_revoked(accounts):
    token, key = await accounts.create_key("alice", "laptop")
    assert (await accounts.authenticate(f"Bearer {token}")).username == "alice"
    assert key.token_hash == hash_token(token) and key.hint == token[:7]
    with pytest.raises(Unauthenticated):
        await accounts.authenticate("Bearer r8_unknown")
    await accounts.store.revoke_key(key.id)  # as `replicast keys revoke` does, elsewhere
    for _ in range(100):
        try:
            await accounts.authenticate(f"Bearer {token}")
        except Unauthenticated:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the revoked token kept working")


async def test_a_key_found_by_its_digest_stops_counting_when_revoked(accounts):
    """Web sessions name their key by digest: a revocation must end them too."""
    token, key = await accounts.create_key("alice", "browser")
    assert (await accounts.by_digest(hash_token(token))).username == "alice"
    with pytest.raises(Unauthenticated):
        await accounts.by_digest(hash_token("r8_unknown"))
    await accounts.store.revoke_key(key.id)
    for _ in range(100):
        try:
            await accounts.by_digest(hash_token(token))
        except Unauthenticated:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the revoked key's digest kept working")


async def test_the_configured_token_is_made_valid_once(accounts):
    assert await accounts.ensure_token("r8_fixed") is True
    assert await accounts.ensure_token("r8_fixed") is False
    assert (await accounts.authenticate("Token r8_fixed")).username == "replicast"


async def test_a_revoked_configured_token_stops_the_server(accounts):
    await accounts.ensure_token("r8_fixed")
    (key, _), = await accounts.store.list_keys()
    await accounts.store.revoke_key(key.id)
    with pytest.raises(ConfigError, match="REPLICAST_API_TOKEN"):
        await accounts.ensure_token("r8_fixed")


async def test_a_token_is_made_at_first_start_only(accounts):
    first = await accounts.first_start_token()
    assert first is not None and first.startswith("r8_")
    assert await accounts.first_start_token() is None


async def test_a_key_with_a_lifetime_stops_working_when_it_ends(accounts, monkeypatch):
    token, key = await accounts.create_key("alice", "a command's", lifetime=timedelta(minutes=5))
    assert key.expires_at is not None
    assert (await accounts.authenticate(f"Bearer {token}")).username == "alice"  # remembered
    later = key.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(times, "now", lambda: later)
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(f"Bearer {token}")  # though remembered
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(f"Bearer {token}")  # nor read again
    lasting, _ = await accounts.create_key("alice", "laptop")
    assert (await accounts.authenticate(f"Bearer {lasting}")).username == "alice"
