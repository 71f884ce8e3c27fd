"""Rate limits: a token bucket per key, kept in this process or in Redis.

``base.py`` holds the arithmetic (``Rate``, ``Decision``, ``admit``) and the ``Limiter``
interface; ``open_limiter`` here names the backends, ``memory.py`` and ``redis.py``, each
imported only when chosen. Which requests draw from which bucket is the API's business
(``replicast.http.ratelimits``).
"""

from __future__ import annotations

from replicast.errors import ConfigError
from replicast.ratelimit.base import Decision, Guard, Limiter, Rate, admit

__all__ = ["Decision", "Guard", "Limiter", "Rate", "admit", "open_limiter"]


def open_limiter(url: str) -> Limiter:
    """The limiter for a broker URL: Redis when processes share one, else this process."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from replicast.ratelimit.memory import MemoryLimiter

        return MemoryLimiter()
    if scheme in {"redis", "rediss", "unix"}:
        from replicast.ratelimit.redis import RedisLimiter

        return RedisLimiter(url)
    raise ConfigError(f"REPLICAST_BROKER_URL: unknown broker URL scheme {scheme!r} in {url!r}")
