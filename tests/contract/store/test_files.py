"""The uploaded files repository's contract: what every store backend must do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replicast import ids, times
from replicast.files.file import StoredFile
from replicast.store.files import FilePageQuery


def make(account_id: int, **fields) -> StoredFile:
    values = dict(
        id=ids.file_id(), account_id=account_id, name="report v2 é.pdf",
        content_type="application/pdf", size=3, sha256="a" * 64, md5="b" * 32,
        metadata={"customer": 123, "tags": ["x", None, 2.5], "nested": {"é": True}},
        base_url="http://h", created_at=times.now(),
        expires_at=times.now() + timedelta(hours=24),
    )
    values.update(fields)
    return StoredFile(**values)


@pytest.fixture
async def alice(store):
    return await store.accounts.ensure_account("alice")


@pytest.fixture
async def bob(store):
    return await store.accounts.ensure_account("bob")


async def test_a_file_round_trips_every_field(store, alice):
    f = make(alice.id, size=5_000_000_000)  # past 32 bits
    await store.files.insert(f)
    got = await store.files.get(alice.id, f.id)
    assert got == f
    assert got.created_at.utcoffset() == timedelta(0)
    assert await store.files.get_of_owner("alice", f.id) == f
    forever = make(alice.id, expires_at=None, metadata={})
    await store.files.insert(forever)
    assert await store.files.get(alice.id, forever.id) == forever


async def test_files_are_found_only_by_their_own_account(store, alice, bob):
    f = make(alice.id)
    await store.files.insert(f)
    assert await store.files.get(bob.id, f.id) is None
    assert await store.files.get_of_owner("bob", f.id) is None
    assert await store.files.get_of_owner("nobody", f.id) is None
    assert await store.files.get(alice.id, ids.file_id()) is None
    assert await store.files.delete(bob.id, f.id) is False
    assert await store.files.get(alice.id, f.id) == f
    assert await store.files.page(FilePageQuery(bob.id, 10, times.now())) == []


async def test_delete_forgets_a_file_once(store, alice):
    f = make(alice.id)
    await store.files.insert(f)
    assert await store.files.delete(alice.id, f.id) is True
    assert await store.files.get(alice.id, f.id) is None
    assert await store.files.delete(alice.id, f.id) is False


async def test_lists_are_newest_first_pages_without_expired_files(store, alice, bob):
    start = times.now() - timedelta(minutes=1)
    mine = [make(alice.id, created_at=start + timedelta(seconds=i)) for i in range(5)]
    expired = make(alice.id, created_at=start + timedelta(seconds=10),
                   expires_at=times.now() - timedelta(seconds=1))
    for f in [*mine, expired, make(bob.id)]:
        await store.files.insert(f)
    now = times.now()
    newest_first = list(reversed(mine))
    assert await store.files.page(FilePageQuery(alice.id, 10, now)) == newest_first
    first = await store.files.page(FilePageQuery(alice.id, 2, now))
    assert first == newest_first[:2]
    position = (first[-1].created_at, first[-1].id)
    second = await store.files.page(FilePageQuery(alice.id, 2, now, before=position))
    assert second == newest_first[2:4]
    back = (second[0].created_at, second[0].id)
    assert await store.files.page(FilePageQuery(alice.id, 2, now, after=back)) == first
    # Seen from before it expired, the expired file is listed.
    then = expired.expires_at - timedelta(seconds=1)
    assert (await store.files.page(FilePageQuery(alice.id, 1, then)))[0] == expired


async def test_expired_files_are_found_and_deleted_whoever_owns_them(store, alice, bob):
    now = times.now()
    old = make(alice.id, expires_at=now - timedelta(hours=1))
    just = make(bob.id, expires_at=now)
    later = make(alice.id, expires_at=now + timedelta(seconds=1))
    forever = make(alice.id, expires_at=None)
    for f in (later, just, old, forever):
        await store.files.insert(f)
    assert await store.files.list_expired(now, 10) == [old.id, just.id]
    assert await store.files.list_expired(now, 1) == [old.id]
    assert await store.files.delete_many([old.id, just.id, ids.file_id()]) == 2
    assert await store.files.delete_many([]) == 0
    assert await store.files.list_expired(now, 10) == []
    assert await store.files.get(alice.id, later.id) == later
    assert await store.files.get(alice.id, forever.id) == forever


async def test_files_bytes_counts_the_accounts_unexpired_files(store, alice, bob):
    now = times.now()
    for f in (make(alice.id, size=100), make(alice.id, size=20, expires_at=None),
              make(alice.id, size=7000, expires_at=now - timedelta(seconds=1)),
              make(bob.id, size=5000)):
        await store.files.insert(f)
    assert await store.files.total_bytes(alice.id, now) == 120
    assert await store.files.total_bytes(bob.id, now) == 5000
    assert await store.files.total_bytes(bob.id, now + timedelta(days=2)) == 0
    carol = await store.accounts.ensure_account("carol")
    assert await store.files.total_bytes(carol.id, now) == 0


async def test_present_files_names_those_with_a_record(store):
    account = await store.accounts.ensure_account("alice")
    stored = make(account.id)
    await store.files.insert(stored)
    assert await store.files.present([stored.id, "0" * 26]) == {stored.id}
    assert await store.files.present([]) == set()
