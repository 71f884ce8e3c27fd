"""Session cookies, their CSRF tokens, and where a sign-in may send the browser."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from replicast.accounts.account import hash_token
from replicast.sessions import Sessions
from replicast.store.sqlite.store import SQLiteStore
from replicast.web.auth import safe_next

DIGEST = hash_token("r8_example")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path):
    opened = SQLiteStore(tmp_path / "replicast.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_a_session_names_the_key_never_the_token(store):
    sessions = Sessions("key", store.sessions)
    session = await sessions.issue(DIGEST)
    assert "r8_example" not in session.value and DIGEST not in session.value
    assert await sessions.read(session.value) == session
    assert session.digest == DIGEST


async def test_the_store_keeps_no_cookie(store, tmp_path):
    sessions = Sessions("key", store.sessions)
    session = await sessions.issue(DIGEST)
    session_id = session.value.partition(".")[2]
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("replicast.db*"))
    assert b"web_sessions" in stored and session_id.encode() not in stored
    found = await store.sessions.get(hashlib.sha256(session_id.encode()).hexdigest(),
                                     datetime.now(UTC))
    assert found is not None and found.key_digest == DIGEST
    assert await sessions.read(f"s2.{found.id_hash}") is None  # the hash is no cookie


async def test_unknown_altered_or_malformed_cookies_are_no_session(store):
    sessions = Sessions("key", store.sessions)
    value = (await sessions.issue(DIGEST)).value
    altered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert await sessions.read(altered) is None
    assert await sessions.read("s2." + "A" * 43) is None  # well formed, never issued
    for junk in (None, "", "s2", "s1.a.b.c.d", "é" * 40, "x" * 300, value + ".",
                 value.replace("s2.", "s1.")):
        assert await sessions.read(junk) is None


async def test_signing_out_ends_every_copy_of_the_cookie(store):
    sessions = Sessions("key", store.sessions)
    session = await sessions.issue(DIGEST)
    other = await sessions.issue(DIGEST)
    await sessions.forget(session.value)
    assert await sessions.read(session.value) is None
    assert await sessions.read(other.value) == other  # another sign-in goes on
    for junk in (None, "", "s2.short", session.value):  # nothing, or nothing left
        await sessions.forget(junk)
    assert await sessions.read(other.value) == other


async def test_a_session_ends_after_its_lifetime(store):
    clock = Clock()
    sessions = Sessions("key", store.sessions, lifetime=60, clock=clock)
    value = (await sessions.issue(DIGEST)).value
    clock.now += timedelta(seconds=59)
    assert await sessions.read(value) is not None
    clock.now += timedelta(seconds=2)
    assert await sessions.read(value) is None


async def test_csrf_tokens_belong_to_one_session(store):
    sessions = Sessions("key", store.sessions)
    first, second = await sessions.issue(DIGEST), await sessions.issue(DIGEST)
    token = sessions.csrf_token(first)
    assert sessions.csrf_valid(first, token)
    assert not sessions.csrf_valid(second, token)  # a new sign-in needs its own
    assert not sessions.csrf_valid(first, None)
    assert not sessions.csrf_valid(first, "")
    assert not sessions.csrf_valid(first, token[:-1] + "é")
    assert not Sessions("another key", store.sessions).csrf_valid(first, token)


@pytest.mark.parametrize("value,expected", [
    ("/p/abc", "/p/abc"),
    ("/models/a/b?x=1", "/models/a/b?x=1"),
    (None, "/"),
    ("", "/"),
    ("p/abc", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("https://evil.example/", "/"),
    ("/ok\r\nSet-Cookie: x=1", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_is_only_ever_a_path_on_this_site(value, expected):
    assert safe_next(value, "/") == expected
