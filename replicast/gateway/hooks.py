"""Upstream webhooks back to the gateway: a hint that a routed prediction has news.

When the gateway can be reached (``REPLICAST_PUBLIC_URL``, or a route's own
``public_url``), a routed prediction is created upstream with a ``webhook`` pointing at
``POST /v1/gateway/hooks/{token}``. The token is the prediction's id and an HMAC of it
with a key kept in the store (every process signs alike): unguessable, one per
prediction, and no API token. A delivery that carries a valid token only wakes the
runner following that prediction, which then fetches the upstream's state itself; what
the body says is never believed, so a forged or replayed delivery can change nothing.
"""

from __future__ import annotations

import hmac

from replicast.gateway.routing import UpstreamRoute
from replicast.server_keys import mac
from replicast.urls import GATEWAY_HOOK, api_url

SECRET_NAME = "gateway-hooks"
EVENTS = ("start", "output", "logs", "completed")
"""The upstream events asked for: every kind of news the runner mirrors."""


class HookSigner:
    """Makes and checks the webhook URLs given to upstreams."""

    def __init__(self, key: str, *, public_url: str | None) -> None:
        self._key = key.encode()
        self._public_url = public_url.rstrip("/") if public_url else None

    def url(self, route: UpstreamRoute, prediction_id: str) -> str | None:
        """The webhook URL for a prediction of ``route``; None when it takes no webhooks."""
        base = route.public_url or self._public_url
        if not route.webhooks or base is None:
            return None
        token = f"{prediction_id}.{self._mac(prediction_id)}"
        return api_url(base.rstrip("/"), GATEWAY_HOOK, token=token)

    def prediction_id(self, token: str) -> str | None:
        """The prediction a token was made for; None if it was not made here."""
        prediction_id, dot, mac = token.rpartition(".")
        if not dot or not prediction_id:
            return None
        expected = self._mac(prediction_id).encode()
        return prediction_id if hmac.compare_digest(mac.encode(), expected) else None

    def _mac(self, prediction_id: str) -> str:
        return mac(self._key, f"hook:{prediction_id}")
