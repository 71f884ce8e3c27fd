"""Failed authentications per client address: which bucket, and what each attempt gets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from replicast.accounts.account import Account, hash_token, parse_authorization
from replicast.auth_failures import FailureLimit, client_key
from replicast.errors import Throttled, Unauthenticated
from replicast.ratelimit import Rate
from replicast.ratelimit.memory import MemoryLimiter

VALID = "r8_" + "v" * 37
ACCOUNT = Account(1, "replicast", datetime(2026, 1, 1, tzinfo=UTC))
HERE, THERE = ("203.0.113.7", 5000), ("198.51.100.1", 5000)


class Tokens:
    """The part of ``Accounts`` the limit uses: one valid token."""

    async def identify(self, authorization: str | None) -> tuple[str, Account]:
        await asyncio.sleep(0)  # as a store read would
        token = parse_authorization(authorization)
        if token != VALID:
            raise Unauthenticated("You did not pass a valid authentication token")
        return hash_token(token), ACCOUNT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("client,key", [
    (("203.0.113.7", 1), "auth-failures:203.0.113.7"),
    (("::ffff:203.0.113.7", 1), "auth-failures:203.0.113.7"),
    # One client commonly has a whole /64 of IPv6 addresses.
    (("2001:db8:1:2:aaaa::1", 1), "auth-failures:2001:db8:1:2::/64"),
    (("2001:db8:1:2:bbbb::9", 1), "auth-failures:2001:db8:1:2::/64"),
    (("testclient", 50000), "auth-failures:testclient"),
    (None, None),
])
def test_the_bucket_is_the_peer_address(client, key):
    assert client_key(client) == key


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def limit(clock):
    return FailureLimit(MemoryLimiter(clock), Rate(60, 3))  # 3 at once, then one a second


async def attempt(limit: FailureLimit, token: str | None, client=HERE) -> int:
    """What the API answers: 200, 401 or 429."""
    header = None if token is None else f"Bearer {token}"
    try:
        await limit.identify(Tokens(), header, client)  # type: ignore[arg-type]
    except Unauthenticated:
        return 401
    except Throttled as exc:
        assert exc.retry_after == 1
        return 429
    return 200


async def test_after_the_limit_even_a_valid_token_is_refused_until_it_refills(limit, clock):
    assert [await attempt(limit, f"r8_guess{n}") for n in range(4)] == [401, 401, 401, 429]
    assert await attempt(limit, VALID) == 429
    assert await attempt(limit, VALID, THERE) == 200  # another address has its own
    clock.now += 1.0
    assert await attempt(limit, VALID) == 200
    assert await attempt(limit, "r8_guess") == 401
    assert await attempt(limit, VALID) == 429


async def test_what_is_no_guess_counts_for_nothing(limit):
    for _ in range(10):
        assert await attempt(limit, None) == 401  # no Authorization header at all
        assert await attempt(limit, VALID) == 200
    assert await attempt(limit, "r8_guess", None) == 401  # no peer address to count
    assert [await attempt(limit, "") for _ in range(4)] == [401, 401, 401, 429]


async def test_malformed_credentials_are_guesses_too(limit):
    answers = []
    for header in ["Basic dXNlcjpwdw==", "Bearer", "garbage", "Token r8_x"]:
        try:
            await limit.identify(Tokens(), header, HERE)  # type: ignore[arg-type]
        except Unauthenticated:
            answers.append(401)
        except Throttled:
            answers.append(429)
    assert answers == [401, 401, 401, 429]


async def test_guesses_sent_at_once_get_no_more_answers_than_the_limit(limit):
    """The right guess among many sent together is answered 200 only while the address
    is under its limit, so the answers tell no more than the limit allows."""
    answers = await asyncio.gather(*(attempt(limit, f"r8_guess{n}") for n in range(50)),
                                   attempt(limit, VALID))
    assert answers[:-1].count(401) == 3 and answers[:-1].count(429) == 47
    assert answers[-1] == 429


class Away(MemoryLimiter):
    """A limiter whose backend does not answer."""

    async def check(self, key, rate):
        return None

    async def peek(self, key, rate):
        return None


async def test_without_its_backend_the_limit_fails_open():
    limit = FailureLimit(Away(), Rate(60, 1))
    assert [await attempt(limit, "r8_guess") for _ in range(5)] == [401] * 5
    assert await attempt(limit, VALID) == 200
