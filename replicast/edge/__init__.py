"""The HTTP edge: what one connection may cost before the app sees a request.

uvicorn's httptools protocol bounds neither a request head nor the time a client takes
to send it or its body. ``protocol_class`` gives uvicorn a protocol that does: a head
past ``REPLICAST_MAX_HEADER_BYTES`` or ``REPLICAST_MAX_HEADERS`` lines is a 431, a head
slower than ``REPLICAST_HEADER_TIMEOUT`` or a body slower than ``REPLICAST_BODY_TIMEOUT``
and ``REPLICAST_BODY_MIN_RATE`` is a 408, and connections past
``REPLICAST_MAX_CONNECTIONS`` (in all) or ``REPLICAST_MAX_CONNECTIONS_PER_CLIENT`` (from
one address) are closed at once. Responses are never timed: an event stream or a
``Prefer: wait`` answer takes as long as it takes.
"""

from __future__ import annotations

import asyncio

from replicast.edge.limits import ConnectionCaps, EdgeLimits
from replicast.errors import ConfigError

__all__ = ["ConnectionCaps", "EdgeLimits", "protocol_class"]


def protocol_class(limits: EdgeLimits) -> type[asyncio.Protocol]:
    """A uvicorn ``http`` protocol class holding connections to ``limits``; each call
    makes a class of its own, counting its own connections (one per server)."""
    try:
        from replicast.edge.protocol import guarded
    except ImportError as exc:
        raise ConfigError(f"Replicast's HTTP server needs httptools and uvicorn ({exc}): "
                          "pip install 'httptools>=0.6' 'uvicorn>=0.30,<0.56'") from None
    return guarded(limits)
