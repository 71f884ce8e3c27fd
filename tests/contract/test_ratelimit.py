"""The rate limiter contract: every backend keeps the same buckets, atomically."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from replicast.ratelimit import Guard, Rate
from replicast.ratelimit.base import MICROS
from replicast.ratelimit.redis import PREFIX, RedisLimiter
from tests.support import services


async def test_a_burst_is_allowed_then_refused_until_it_refills(limiter):
    rate = Rate(60, 3)  # one a second, three at once
    decisions = [await limiter.check("creates:a", rate) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.reset for d in decisions] == [1, 2, 3, 3]
    refused = decisions[-1]
    assert refused.retry_after == 1 and 0 < refused.retry_in <= MICROS


async def test_the_refusal_says_when_to_come_back(limiter):
    rate = Rate(600, 2)  # one every 100 ms
    assert (await limiter.check("k", rate)).allowed
    assert (await limiter.check("k", rate)).allowed
    refused = await limiter.check("k", rate)
    assert not refused.allowed
    await asyncio.sleep(refused.retry_in / MICROS + 0.01)
    again = await limiter.check("k", rate)
    assert again.allowed and again.remaining == 0
    assert not (await limiter.check("k", rate)).allowed


async def test_a_peek_says_what_a_check_would_and_counts_nothing(limiter):
    rate = Rate(60, 2)
    for _ in range(5):
        assert (await limiter.peek("k", rate)).allowed
    assert (await limiter.check("k", rate)).allowed
    assert (await limiter.check("k", rate)).allowed
    peeked = await limiter.peek("k", rate)
    assert not peeked.allowed and 0 < peeked.retry_in <= MICROS and peeked.retry_after == 1
    assert not (await limiter.check("k", rate)).allowed
    assert (await limiter.peek("other", rate)).allowed


async def test_a_guard_is_asked_first_and_counts_nothing(limiter):
    rate, guard = Rate(60, 5), Guard("failures:a", Rate(60, 2))
    first = await limiter.check("requests:a", rate, guard)
    assert first.allowed and first.remaining == 4 and not first.guarded
    assert (await limiter.check("failures:a", guard.rate)).allowed
    assert (await limiter.check("failures:a", guard.rate)).remaining == 0
    refused = await limiter.check("requests:a", rate, guard)
    assert not refused.allowed and refused.guarded and refused.retry_after == 1
    # Neither bucket counted the refused request.
    assert (await limiter.check("requests:a", rate)).remaining == 3
    assert not (await limiter.peek("failures:a", guard.rate)).allowed
    # A refusal of the bucket itself is not the guard's.
    spent = [await limiter.check("requests:b", Rate(60, 1), Guard("failures:b", guard.rate))
             for _ in range(2)]
    assert [(d.allowed, d.guarded) for d in spent] == [(True, False), (False, False)]


async def test_each_key_has_a_bucket_of_its_own(limiter):
    rate = Rate(60, 1)
    assert (await limiter.check("creates:a", rate)).allowed
    assert not (await limiter.check("creates:a", rate)).allowed
    assert (await limiter.check("creates:b", rate)).allowed
    assert (await limiter.check("requests:a", rate)).allowed


async def test_checks_racing_each_other_never_pass_more_than_the_burst(limiter):
    rate = Rate(60, 10)
    decisions = await asyncio.gather(*(limiter.check("k", rate) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_processes_on_one_redis_share_buckets_that_expire_when_full():
    await services.empty_redis()
    first, second = RedisLimiter(services.redis_url()), RedisLimiter(services.redis_url())
    client = redis.Redis.from_url(services.redis_url())
    try:
        rate = Rate(60, 2)
        assert (await first.check("k", rate)).allowed
        assert (await second.check("k", rate)).remaining == 0
        assert not (await first.check("k", rate)).allowed
        # The key lives until the bucket is full again (two seconds here), no longer.
        assert 1000 < await client.pttl(f"{PREFIX}k") <= 2000
        assert await client.keys(f"{PREFIX}*") == [f"{PREFIX}k".encode()]
    finally:
        await client.aclose()
        await first.close()
        await second.close()
