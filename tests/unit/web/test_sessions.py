"""Session cookies, their CSRF tokens, and where a sign-in may send the browser."""

from __future__ import annotations

import pytest

from replicast.accounts import hash_token
from replicast.web.auth import safe_next
from replicast.web.sessions import Sessions

DIGEST = hash_token("r8_example")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_names_the_key_never_the_token():
    sessions = Sessions("key")
    session = sessions.issue(DIGEST)
    assert "r8_example" not in session.value
    assert sessions.read(session.value) == session
    assert session.digest == DIGEST


def test_a_forged_or_altered_cookie_is_no_session():
    sessions = Sessions("key")
    value = sessions.issue(DIGEST).value
    other = hash_token("r8_someone_else")
    assert sessions.read(value.replace(DIGEST, other)) is None
    assert sessions.read(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None
    assert Sessions("another key").read(value) is None
    for junk in (None, "", "s1", "s1.a.b.c.d", "é" * 40, "x" * 300, value + "."):
        assert sessions.read(junk) is None


def test_a_session_ends_after_its_lifetime():
    clock = Clock()
    sessions = Sessions("key", lifetime=60, clock=clock)
    value = sessions.issue(DIGEST).value
    clock.now += 59
    assert sessions.read(value) is not None
    clock.now += 2
    assert sessions.read(value) is None


def test_csrf_tokens_belong_to_one_session():
    sessions = Sessions("key")
    first, second = sessions.issue(DIGEST), sessions.issue(DIGEST)
    token = sessions.csrf_token(first)
    assert sessions.csrf_valid(first, token)
    assert not sessions.csrf_valid(second, token)  # a new sign-in needs its own
    assert not sessions.csrf_valid(first, None)
    assert not sessions.csrf_valid(first, "")
    assert not sessions.csrf_valid(first, token[:-1] + "é")
    assert not Sessions("another key").csrf_valid(first, token)


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
