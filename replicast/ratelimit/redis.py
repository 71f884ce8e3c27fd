"""Buckets in Redis, shared by every API process that uses the same Redis.

Each check is one Lua script, atomic in Redis, on one key per bucket,
``replicast:ratelimit:<key>``, which expires when its bucket is full again. The
script reads Redis's own clock, so processes on machines whose clocks differ share
buckets all the same.

When Redis does not answer, requests go ahead unlimited (fail open) rather than fail:
the limits protect the service from a client's excess, and a limiter that turned a
Redis outage into an API outage would do more harm than the excess it guards against.
The API keeps working without Redis otherwise (predictions are in the store; queues
and events are rebuilt), so it does here too. After a failure Redis is left alone for
``RETRY_SECONDS``, so that requests do not each wait on a dead connection, and the
warning is logged at most every ``WARN_SECONDS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from replicast.errors import ConfigError
from replicast.ratelimit.base import Decision, Guard, Limiter, Rate

log = logging.getLogger(__name__)

PREFIX = "replicast:ratelimit:"

# ``admit`` (base.py), in Lua: KEYS[1] the bucket; ARGV the interval (µs), the burst, and
# 1 to count the request (``check``) or 0 only to say what counting it would answer
# (``peek``); then, for a guard, KEYS[2] and its interval and burst as ARGV[4] and [5].
# Returns {microseconds until full again, microseconds until allowed (0: allowed), 1 if
# that is the guard's refusal, else 0}.
SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function wait_in(key, interval, burst)
  local start = tonumber(redis.call('GET', key) or now)
  if start < now then start = now end
  return start, start - now - (burst - 1) * interval
end
if KEYS[2] then
  local start, wait = wait_in(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
  if wait > 0 then return {start - now, wait, 1} end
end
local interval = tonumber(ARGV[1])
local start, wait = wait_in(KEYS[1], interval, tonumber(ARGV[2]))
if wait > 0 then return {start - now, wait, 0} end
local full_at = start + interval
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', full_at),
             'PX', math.ceil((full_at - now) / 1000))
end
return {full_at - now, 0, 0}
"""


class RedisLimiter(Limiter):
    """Buckets in Redis; ``check`` answers None while Redis does not."""

    shared = True
    RETRY_SECONDS = 1.0
    WARN_SECONDS = 60.0

    def __init__(self, url: str, *, timeout: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        try:
            import redis.asyncio as redis
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("REPLICAST_BROKER_URL is Redis, which needs the redis extra: "
                              "pip install 'replicast[redis]'") from None
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=timeout,
                                                socket_connect_timeout=timeout)
        self._script: Any = self._redis.register_script(SCRIPT)
        self._errors = (redis.RedisError, OSError)
        self._clock = clock
        self._url = url
        self._skip_until = 0.0
        self._warned_at: float | None = None
        self._failing = False

    async def close(self) -> None:
        await self._redis.aclose()

    async def check(self, key: str, rate: Rate, guard: Guard | None = None) -> Decision | None:
        return await self._run(key, rate, count=True, guard=guard)

    async def peek(self, key: str, rate: Rate) -> Decision | None:
        return await self._run(key, rate, count=False)

    async def _run(self, key: str, rate: Rate, *, count: bool,
                   guard: Guard | None = None) -> Decision | None:
        if self._clock() < self._skip_until:
            return None
        keys, args = [PREFIX + key], [rate.interval, rate.burst, int(count)]
        if guard is not None:
            keys.append(PREFIX + guard.key)
            args += [guard.rate.interval, guard.rate.burst]
        try:
            full_in, retry_in, guarded = await self._script(keys=keys, args=args)
        except self._errors as exc:
            self._failed(exc)
            return None
        if self._failing:
            self._failing = False
            log.info("Redis answers again: rate limits apply again")
        if guarded and guard is not None:
            return Decision.of(guard.rate, int(full_in), int(retry_in), guarded=True)
        return Decision.of(rate, int(full_in), int(retry_in))

    def _failed(self, error: Exception) -> None:
        now = self._clock()
        self._skip_until = now + self.RETRY_SECONDS
        self._failing = True
        if self._warned_at is None or now - self._warned_at >= self.WARN_SECONDS:
            self._warned_at = now
            log.warning("rate limits are not applied while Redis at %s does not answer: %s",
                        self._safe_url(), error)

    def _safe_url(self) -> str:
        scheme, _, rest = self._url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"
