"""Routed names to models: the schema fetched from the upstream, cached for a while.

A routed model is described by its upstream (``GET /v1/models/{owner}/{name}``:
``latest_version.openapi_schema``) and kept ``schema_ttl`` seconds, then fetched
again. An upstream that does not answer when a model is first needed makes it
``Unavailable`` (a 503 with ``Retry-After``); one that stops answering later leaves
the model as last seen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from replicast import times
from replicast.errors import Unavailable, UpstreamError
from replicast.gateway.client import UpstreamClient
from replicast.gateway.hooks import HookSigner
from replicast.gateway.routing import UpstreamRoute, match
from replicast.gateway.runner import UpstreamRunner
from replicast.models.base import Model

log = logging.getLogger(__name__)

MAX_VERSIONS = 256
"""Versions other than the latest kept described (versions never change)."""
DOWN_SECONDS = 5.0
"""After an upstream failed to describe a model, how long the next asks are answered
``Unavailable`` at once (the ``Retry-After``), rather than waiting on it again."""

@dataclass(slots=True)
class _Cached:
    model: Model
    fetched_at: float


class Gateway:
    """Resolves names the routes cover; knows nothing of local models (they win first)."""

    def __init__(self, routes: Sequence[UpstreamRoute], *, allow_private: bool,
                 min_rate: int = 0, hooks: HookSigner | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.routes = tuple(routes)
        self.hooks = hooks
        """Makes the webhook URLs upstreams call back (None: they are only polled)."""
        self._clients = {route: UpstreamClient(route, allow_private=allow_private,
                                               min_rate=min_rate)
                         for route in self.routes}
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._down: dict[str, float] = {}  # when an upstream last failed to describe a name
        self._versions: dict[tuple[str, str], Model] = {}  # older versions, oldest first

    async def close(self) -> None:
        """Close every upstream's connections."""
        for client in self._clients.values():
            await client.close()

    def route(self, full_name: str) -> UpstreamRoute | None:
        """The route ``full_name`` takes, if any."""
        return match(self.routes, full_name)

    def covers(self, full_name: str) -> bool:
        """Whether a route covers ``full_name``."""
        return self.route(full_name) is not None

    def exact_names(self) -> tuple[str, ...]:
        """Every name the routes give exactly, once."""
        return tuple(dict.fromkeys(n for route in self.routes for n in route.exact_names))

    @property
    def has_patterns(self) -> bool:
        """Whether some route covers names by pattern (they are known only when asked)."""
        return any(len(route.exact_names) < len(route.patterns) for route in self.routes)

    async def resolve(self, full_name: str) -> Model | None:
        """The routed model called ``full_name``; None if no route or upstream has it."""
        route = self.route(full_name)
        if route is None:
            return None
        cached = self._cache.get(full_name)
        if cached is not None and self._clock() - cached.fetched_at < route.schema_ttl:
            return cached.model
        client = self._clients[route]
        failed_at = self._down.get(full_name)
        if cached is None and failed_at is not None \
                and self._clock() - failed_at < DOWN_SECONDS:
            raise _unavailable(full_name, client)
        lock = self._locks.setdefault(full_name, asyncio.Lock())
        async with lock:
            cached = self._cache.get(full_name)
            if cached is not None and self._clock() - cached.fetched_at < route.schema_ttl:
                return cached.model
            try:
                described = await client.get_model(full_name)
            except UpstreamError as exc:
                if cached is not None:
                    log.warning("keeping %s as last described: %s", full_name, exc)
                    cached.fetched_at = self._clock()
                    return cached.model
                log.warning("cannot describe %s: %s", full_name, exc)
                self._down[full_name] = self._clock()
                raise _unavailable(full_name, client) from None
            self._down.pop(full_name, None)
            if described is None:
                self._cache.pop(full_name, None)
                return None
            model = _model(full_name, described, client, self.hooks)
            self._cache[full_name] = _Cached(model, self._clock())
            return model

    async def listed(self) -> list[Model]:
        """The routed models named exactly in the routes (patterns cannot be listed) that
        their upstreams describe; one that cannot be described now is left out."""
        models = []
        for route in self.routes:
            for name in route.exact_names:
                try:
                    model = await self.resolve(name)
                except Unavailable:
                    continue
                if model is not None and match(self.routes, name) is route:
                    models.append(model)
        return models

    async def resolve_version(self, full_name: str, version_id: str) -> Model | None:
        """The routed model ``full_name`` at version ``version_id``: the latest, or an
        older one the upstream still has (created by that version); None if neither."""
        latest = await self.resolve(full_name)
        if latest is None or latest.version_id == version_id:
            return latest
        known = self._versions.get((full_name, version_id))
        if known is not None:
            return known
        route = self.route(full_name)
        assert route is not None
        client = self._clients[route]
        try:
            described = await client.get_version(full_name, version_id)
        except UpstreamError as exc:
            log.warning("cannot describe %s:%s: %s", full_name, version_id, exc)
            raise _unavailable(full_name, client) from None
        if described is None or not isinstance(described.get("openapi_schema"), dict):
            return None
        model = _older(latest, version_id, described, client, self.hooks)
        self._versions[(full_name, version_id)] = model
        if len(self._versions) > MAX_VERSIONS:
            del self._versions[next(iter(self._versions))]
        return model

    def cached(self, version_id: str) -> Model | None:
        """A routed model already described whose version is ``version_id``."""
        return next((m for m in (*(c.model for c in self._cache.values()),
                                 *self._versions.values()) if m.version_id == version_id),
                    None)


def _unavailable(full_name: str, client: UpstreamClient) -> Unavailable:
    return Unavailable(f"{full_name} is served by the upstream {client.name}, which cannot "
                       "describe it right now; try again shortly",
                       retry_after=int(DOWN_SECONDS))


def _older(latest: Model, version_id: str, described: dict[str, Any],
           client: UpstreamClient, hooks: HookSigner | None) -> Model:
    """``latest`` at an older version, from the upstream's description of that version."""
    try:
        created_at = times.parse_rfc3339(str(described.get("created_at")))
    except ValueError:
        created_at = latest.version_created_at
    return dataclasses.replace(
        latest, openapi_schema=described["openapi_schema"], given_version_id=version_id,
        version_created_at=created_at,
        # Asked for by version: shown by it, and created upstream by it.
        official=False,
        runner=UpstreamRunner(client, latest.full_name, described["openapi_schema"],
                              version=version_id, hooks=hooks))


def _model(full_name: str, described: dict[str, Any], client: UpstreamClient,
           hooks: HookSigner | None) -> Model:
    """A ``Model`` from an upstream's description of it."""
    latest = described.get("latest_version")
    if not isinstance(latest, dict) or not isinstance(latest.get("openapi_schema"), dict):
        raise Unavailable(f"The upstream {client.name} describes {full_name} without a "
                          "version and its openapi_schema")
    version_id = latest.get("id") if isinstance(latest.get("id"), str) else None
    official = bool(described.get("is_official", False))
    owner, _, name = full_name.partition("/")
    try:
        created_at = times.parse_rfc3339(str(latest.get("created_at")))
    except ValueError:
        created_at = times.now()

    def text(key: str) -> str | None:
        value = described.get(key)
        return value if isinstance(value, str) else None

    return Model(
        owner=owner, name=name, description=text("description") or "",
        openapi_schema=latest["openapi_schema"],
        # Models not official upstream are created by version, as Replicate requires.
        runner=UpstreamRunner(client, full_name, latest["openapi_schema"],
                              version=None if official or version_id is None else version_id,
                              hooks=hooks),
        version_created_at=created_at, official=official,
        github_url=text("github_url"), paper_url=text("paper_url"),
        license_url=text("license_url"), cover_image_url=text("cover_image_url"),
        given_version_id=version_id,
    )
