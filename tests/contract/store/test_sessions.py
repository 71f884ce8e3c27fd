"""The sessions repository's contract (web sessions, server secrets), on every backend."""

from __future__ import annotations

from datetime import timedelta

from replicast import times
from replicast.store.sessions import WebSession


async def test_web_sessions_are_kept_until_they_end_or_are_deleted(store):
    now = times.now()
    kept = WebSession("a" * 64, "d" * 64, now, now + timedelta(hours=1))
    short = WebSession("b" * 64, "d" * 64, now, now + timedelta(seconds=1))
    await store.sessions.insert(kept)
    await store.sessions.insert(short)
    assert await store.sessions.get("a" * 64, now) == kept
    assert await store.sessions.get("b" * 64, now + timedelta(seconds=2)) is None
    assert await store.sessions.get("c" * 64, now) is None
    # A sign-in after the short one ended sweeps it away.
    later = now + timedelta(minutes=5)
    await store.sessions.insert(WebSession("e" * 64, "d" * 64, later,
                                           later + timedelta(hours=1)))
    assert await store.sessions.get("b" * 64, now) is None
    await store.sessions.delete("a" * 64)
    await store.sessions.delete("a" * 64)  # twice: nothing to do
    assert await store.sessions.get("a" * 64, now) is None
    assert await store.sessions.get("e" * 64, later) is not None


async def test_a_server_secret_is_made_once_and_shared(store_factory):
    first, second = await store_factory(), await store_factory()
    assert await first.sessions.server_secret("output-urls", "one") == "one"
    assert await second.sessions.server_secret("output-urls", "two") == "one"
    assert await second.sessions.server_secret("other", "three") == "three"


async def test_the_server_secret_is_proposed_once_and_kept(store_factory):
    first, second = await store_factory(), await store_factory()
    kept = await first.sessions.server_secret("files-download", "one")
    assert kept == "one"
    assert await second.sessions.server_secret("files-download", "two") == "one"
    assert await second.sessions.server_secret("another", "three") == "three"
