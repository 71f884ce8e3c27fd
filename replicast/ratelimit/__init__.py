"""Rate limits: a token bucket per key, kept in this process or in Redis.

``base.py`` holds the arithmetic (``Rate``, ``Decision``, ``admit``) and the ``Limiter``
interface with ``open_limiter``; ``memory.py`` and ``redis.py`` are the backends. Which
requests draw from which bucket is the API's business (``replicast.http.ratelimits``).
"""

from replicast.ratelimit.base import Decision, Guard, Limiter, Rate, admit, open_limiter

__all__ = ["Decision", "Guard", "Limiter", "Rate", "admit", "open_limiter"]
