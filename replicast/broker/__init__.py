"""The broker seam: queues of prediction ids and each prediction's event channel.

``base.py`` is the interface; ``open_broker`` names the backends (``memory.py``,
``redis.py``), each imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replicast.errors import ConfigError

if TYPE_CHECKING:
    from replicast.broker.base import Broker


def open_broker(url: str) -> Broker:
    """The broker backend for ``url`` (``memory://``), not yet opened."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from replicast.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in {"redis", "rediss", "unix"}:
        from replicast.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ConfigError(f"REPLICAST_BROKER_URL: unknown broker URL scheme {scheme!r} in {url!r}")
