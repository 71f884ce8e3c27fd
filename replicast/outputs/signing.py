"""Signed, expiring output URLs.

Output files are fetched without an API token (the npm client sends none), so their
URLs carry their own proof: ``/outputs/<expires>.<signature>/<prediction>/<run>/<name>``,
an expiry (unix time) and an HMAC made with a server key kept in the store, so that
every process signs alike. The proof sits in the path, not the query, so that URLs
still end with the file's name, as code that takes names from URLs expects. The store keeps
the plain URLs; a prediction is signed each time it is shown, so links stay valid
for as long as the data is kept. The expiry moves on in whole steps of the TTL, so
the same prediction shows the same URLs for a while (webhooks, polls and streams
agree), and a URL works for between one and two TTLs. An expiry further ahead than
that (and a minute's allowance for the clocks of other processes) is refused, whoever
signed it: a link made with a stolen key, or by a process with a longer TTL, still ends.

With a bucket and presigned URLs on (REPLICAST_STORAGE_PRESIGNED_URLS), the links shown
are the bucket's own URLs of the same files with the same expiry, signed at the start of
the step (so they too stay the same for a while); the ``/outputs/`` URLs keep working,
and the web pages (``own``) keep using them, so that their security policy need not
admit the bucket's origin.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from replicast.server_keys import mac
from replicast.urls import OUTPUTS

SECRET_NAME = "output-urls"
CLOCK_ALLOWANCE = 60
"""Seconds an expiry may lie past the furthest this process would sign."""


Presigner = Callable[..., str | None]
"""``presigner(resource, signed_at=..., expires=...)``: the bucket URL of an output file,
or None for a resource that names no file it could keep."""


class OutputLinks:
    """Signs the output URLs in a prediction's output and checks signed requests."""

    def __init__(self, key: str, *, ttl: float, clock: Callable[[], float] = time.time,
                 presigner: Presigner | None = None, presigned_origin: str | None = None
                 ) -> None:
        self._key = key.encode()
        self._step = max(1, int(ttl))
        self._clock = clock
        self._presigner = presigner
        self.foreign_origin = presigned_origin if presigner is not None else None
        """The origin (``scheme://host[:port]``) of presigned links, when they are on."""

    @property
    def own(self) -> OutputLinks:
        """Links that are always this server's ``/outputs/`` URLs, never presigned."""
        if self._presigner is None:
            return self
        return OutputLinks(self._key.decode(), ttl=self._step, clock=self._clock)

    @property
    def lifetime(self) -> int:
        """The furthest ahead, in seconds, that a link this process signs expires."""
        return 2 * self._step

    def signature(self, resource: str, expires: int) -> str:
        """The signature of ``prediction_id/folder/name`` until ``expires``."""
        return mac(self._key, f"{resource}\n{expires}")

    def valid(self, resource: str, proof: str) -> bool:
        """Whether ``proof`` (``<expires>.<signature>``) holds for ``resource`` now."""
        expires, _, signature = proof.partition(".")
        if not expires or not signature or not expires.isascii() or not expires.isdigit():
            return False
        now = self._clock()
        if len(expires) > 12 or not now <= int(expires) <= now + self.lifetime + CLOCK_ALLOWANCE:
            return False
        return hmac.compare_digest(self.signature(resource, int(expires)), signature)

    def sign(self, output: Any, base_url: str, prediction_id: str) -> Any:
        """``output`` with the URLs of this prediction's own output files signed.

        Only its own: a model that echoes text would otherwise sign any file's URL it
        was handed, renewing links that expired or were never given out.
        """
        prefix = f"{base_url}{OUTPUTS}/"
        own = f"{prefix}{prediction_id}/"
        expires = (int(self._clock()) // self._step + 2) * self._step
        presign = self._presigner

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                if not value.startswith(own):
                    return value
                rest = value[len(prefix):]
                resource = "/".join(unquote(p) for p in rest.split("/"))
                if presign is not None:
                    url = presign(resource, signed_at=expires - self.lifetime, expires=expires)
                    if url is not None:
                        return url
                return f"{prefix}{expires}.{self.signature(resource, expires)}/{rest}"
            if isinstance(value, list):
                return [walk(item) for item in value]
            if isinstance(value, dict):
                return {key: walk(item) for key, item in value.items()}
            return value

        return walk(output)
