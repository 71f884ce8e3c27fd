"""The process's services, as the API's and the pages' handlers reach them through the
app: built by the lifespan (``app.py``), read per request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request

from replicast import urls
from replicast.accounts.account import Account
from replicast.accounts.service import Accounts
from replicast.auth_failures import FailureLimit
from replicast.broker.base import Broker
from replicast.config import Settings
from replicast.errors import Throttled, Unauthenticated
from replicast.files.service import FilesService
from replicast.gateway.hooks import HookSigner
from replicast.metrics import Metrics
from replicast.models.base import Model
from replicast.models.registry import Registry
from replicast.outputs.base import OutputStore
from replicast.outputs.signing import OutputLinks
from replicast.predictions.service import PredictionService
from replicast.ratelimit import Limiter, Rate
from replicast.sessions import Sessions
from replicast.store.base import Store


class LocalWorker(Protocol):
    """What the handlers see of the worker running in this process (``replicast.worker``),
    which ``app.py`` starts: readiness waits for its models to be set up."""

    @property
    def models(self) -> Sequence[Model]:
        """The local models it runs."""
        ...


@dataclass(frozen=True, slots=True)
class AppState:
    """The services behind the API and the pages."""

    settings: Settings
    store: Store
    registry: Registry
    predictions: PredictionService
    accounts: Accounts
    outputs: OutputStore
    links: OutputLinks
    broker: Broker
    metrics: Metrics
    files: FilesService
    worker: LocalWorker | None = None
    """The worker running in this process, if one does."""
    streams: set[asyncio.Task[Any]] = field(default_factory=set)
    """Tasks serving open event streams, which never end by themselves."""
    limiter: Limiter | None = None
    """Where tokens' rate-limit buckets are kept (``replicast.http.ratelimits``)."""
    rates: Mapping[str, Rate] = field(default_factory=dict)
    """Each bucket's rate, by bucket name; a bucket without one is not limited."""
    sessions: Sessions | None = None
    """Signs the web pages' session cookies (``replicast.web``); None where no API runs."""
    hooks: HookSigner | None = None
    """Checks upstreams' webhooks to the gateway (``replicast.gateway.hooks``)."""
    auth_failures: FailureLimit | None = None
    """Limits failed authentications per client address; None when there is no limit."""

    async def identify(self, authorization: str | None, client: tuple[str, int] | None,
                       *, confirm: bool = True) -> tuple[str, Account]:
        """The digest of an ``Authorization`` header's token and its account, under the
        failure limit of the ``client`` address it comes from (``replicast.auth_failures``)."""
        if self.auth_failures is None:
            return await self.accounts.identify(authorization)
        return await self.auth_failures.identify(self.accounts, authorization, client,
                                                 confirm=confirm)

    def end_streams(self) -> None:
        """Close every open event stream (at shutdown; clients reconnect elsewhere)."""
        for task in self.streams:
            task.cancel()


def app_state(request: Request) -> AppState:
    """The running app's services."""
    state: AppState = request.app.state.replicast
    return state


IDENTIFIED = "replicast.identified"
"""Scope key of what the rate limits found out about the request's token, if they looked:
its account, ``Unauthenticated``, or ``Throttled`` (its address is locked out); so that no
token is looked up twice."""


async def authenticate(request: Request) -> Account:
    """The account of the request's token; ``Unauthenticated`` without a valid one,
    ``Throttled`` while its address has failed too often (``replicast.auth_failures``)."""
    identified = request.scope.get(IDENTIFIED)
    if isinstance(identified, Account):
        return identified
    if isinstance(identified, Unauthenticated):
        raise Unauthenticated(identified.detail)
    if isinstance(identified, Throttled):
        raise Throttled(identified.detail, identified.retry_after)
    _, account = await app_state(request).identify(
        request.headers.get("authorization"), request.client)
    return account


def base_url(request: Request) -> str:
    """Where this server is reached: ``REPLICAST_PUBLIC_URL``, else the request's own origin."""
    public = app_state(request).settings.public_url
    if public:
        return public
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}"
    return f"{scope['scheme']}://{host}{scope.get('root_path', '')}".rstrip("/")


def api_prefix(request: Request) -> str:
    """The API prefix the request came in on (``urls.API_PREFIXES``)."""
    path = request.scope["path"]  # as request.url.path, without building the whole URL
    root = str(request.scope.get("root_path", ""))
    return urls.api_prefix(path[len(root):] if root and path.startswith(root) else path)
