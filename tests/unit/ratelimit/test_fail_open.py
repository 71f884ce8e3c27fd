"""Without Redis the limits fail open: requests go ahead, and the log says so once."""

from __future__ import annotations

import logging

from replicast.ratelimit import Rate
from replicast.ratelimit.redis import RedisLimiter
from tests.support.server import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_unreachable_redis_allows_requests_and_warns_once_an_interval(caplog):
    clock = Clock()
    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", clock=clock)
    calls = 0
    original = limiter._script

    async def counted(**kwargs):
        nonlocal calls
        calls += 1
        return await original(**kwargs)

    limiter._script = counted
    rate = Rate(60, 1)
    try:
        with caplog.at_level(logging.WARNING, logger="replicast.ratelimit.redis"):
            assert [await limiter.check("k", rate) for _ in range(50)] == [None] * 50
            assert calls == 1  # then Redis is left alone for a while
            clock.now += RedisLimiter.RETRY_SECONDS
            assert await limiter.check("k", rate) is None
            assert calls == 2
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "rate limits are not applied" in warnings[0].getMessage()
            clock.now += RedisLimiter.WARN_SECONDS
            assert await limiter.check("k", rate) is None
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    finally:
        await limiter.close()
