"""The bucket arithmetic (GCRA), and the in-memory backend on an injected clock."""

from __future__ import annotations

import pytest

from replicast.ratelimit import Decision, Rate, admit
from replicast.ratelimit.base import MICROS
from replicast.ratelimit.memory import MemoryLimiter

# Replicate's limits, with buckets of a minute's worth (the defaults).
CREATES = Rate(600, 600)
REQUESTS = Rate(3000, 3000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spend(rate: Rate, count: int, now: int = 0, full_at: int | None = None):
    decisions = []
    for _ in range(count):
        kept, decision = admit(rate, full_at, now)
        decisions.append(decision)
        full_at = kept if kept is not None else full_at
    return full_at, decisions


def test_a_rate_is_read_from_a_minute_and_a_burst_in_seconds():
    assert Rate.of(600, 60) == CREATES and Rate.of(3000, 60) == REQUESTS
    assert Rate.of(600, 6) == Rate(600, 60)
    assert Rate.of(60, 0.5) == Rate(60, 1)  # never less than one request
    assert Rate.of(0, 60) is None
    assert Rate(600, 1).interval == MICROS // 10 and Rate(7, 1).interval == 8_571_429
    with pytest.raises(ValueError):
        Rate(0, 1)


def test_a_fresh_bucket_answers_as_replicate_does():
    # Replicate's recorded answers: 599/1 after a create, 2999/1 after another request.
    _, (create,) = spend(CREATES, 1)
    _, (other,) = spend(REQUESTS, 1)
    assert (create.allowed, create.remaining, create.reset) == (True, 599, 1)
    assert (other.allowed, other.remaining, other.reset) == (True, 2999, 1)


def test_a_burst_is_allowed_at_once_and_then_refused():
    rate = Rate(60, 3)  # one a second, three at once
    full_at, decisions = spend(rate, 4)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.reset for d in decisions] == [1, 2, 3, 3]
    refused = decisions[-1]
    assert refused.retry_in == MICROS and refused.retry_after == 1
    assert full_at == 3 * MICROS  # the refusal changed nothing


def test_the_bucket_refills_at_the_rate():
    rate = Rate(60, 3)
    full_at, _ = spend(rate, 3)
    kept, early = admit(rate, full_at, MICROS - 1)
    assert not early.allowed and early.retry_in == 1 and early.retry_after == 1
    assert kept is None
    full_at, (one, two) = spend(rate, 2, now=MICROS, full_at=full_at)
    assert one.allowed and one.remaining == 0 and not two.allowed
    # Once full again it is as good as new.
    _, (fresh,) = spend(rate, 1, now=10 * MICROS, full_at=full_at)
    assert fresh.allowed and fresh.remaining == 2 and fresh.reset == 1


def test_requests_at_the_rate_are_never_refused_however_long_they_go_on():
    rate = Rate(600, 1)  # no burst at all: one every 100 ms
    full_at = None
    for step in range(1000):
        full_at, decision = admit(rate, full_at, step * rate.interval)
        assert decision.allowed
    _, too_soon = admit(rate, full_at, 999 * rate.interval + 1)
    assert not too_soon.allowed


def test_retry_after_is_whole_seconds_and_at_least_one():
    rate = Rate(1, 1)  # one a minute
    full_at, _ = spend(rate, 1)
    _, refused = admit(rate, full_at, 15 * MICROS + 1)
    assert refused.retry_after == 45 and refused.reset == 45
    assert Decision.of(rate, 10, 10).retry_after == 1


def test_the_memory_limiter_counts_per_key_on_its_clock():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    rate = Rate(60, 2)
    assert [limiter.take("a", rate).allowed for _ in range(3)] == [True, True, False]
    assert limiter.take("b", rate).allowed  # a bucket of its own
    clock.now += 1.0
    assert limiter.take("a", rate).allowed and not limiter.take("a", rate).allowed


def test_the_memory_limiter_forgets_buckets_once_they_are_full_again():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    rate = Rate(60, 5)
    for key in ("a", "b", "c"):
        limiter.take(key, rate)
    assert len(limiter) == 3
    clock.now += 1.0  # each took one: full again after a second
    limiter.take("d", rate)
    assert len(limiter) == 1


def test_the_memory_limiter_keeps_at_most_max_keys():
    clock = Clock()
    limiter = MemoryLimiter(clock, max_keys=100)
    rate = Rate(1, 1)  # buckets stay in use for a minute
    for index in range(10_000):
        limiter.take(f"key{index}", rate)
        clock.now += 0.001
    assert len(limiter) == 100
    # The most recently used are the ones kept.
    assert not limiter.take("key9999", rate).allowed
    assert limiter.take("key0", rate).allowed


async def test_a_peek_counts_nothing_and_says_what_the_next_check_would():
    clock = Clock()
    limiter = MemoryLimiter(clock)
    rate = Rate(60, 3)
    for _ in range(5):  # a bucket never used: full, whatever the time
        clock.now += 0.25
        assert await limiter.peek("k", rate) == admit(rate, None, round(clock.now * MICROS))[1]
    assert len(limiter) == 0
    for spent in range(1, 5):
        peeked = await limiter.peek("k", rate)
        checked = await limiter.check("k", rate)
        assert peeked == checked
        assert peeked.allowed is (spent <= 3)
    clock.now += 60  # full again: forgotten at the next check, and full to a peek
    assert (await limiter.peek("k", rate)).remaining == 2
