"""Rate limits on the API: which bucket a request draws from, and what the client is told.

Each API token has two buckets, as on Replicate: ``creates`` for ``POST .../predictions``
(both create routes) and OpenAI's images routes (each request is a create), and
``requests`` for every other route under ``/v1`` and ``/replicate/v1``. The check runs
before the route, in one middleware, so handlers know nothing of it, a refused request
costs no more than the check, and every answer it lets through, the route's problems
included, carries ``ratelimit-remaining`` and ``ratelimit-reset``. Over the limit the
answer is a 429 problem with ``Retry-After``, which the official clients honour (in
OpenAI's error shape on its images routes). The token looked up here is not looked up
again (``state.IDENTIFIED``).

Drawing from no bucket:

- requests without a valid token: the route answers 401, and a flood of made-up tokens
  leaves nothing behind (buckets are made only for tokens found in the store); their
  addresses' failures are limited apart (``replicast.auth_failures``);
- health, metrics, the OpenAPI document and output files, which carry no token;
- event streams (``/v1/streams/...``): their URL holds a secret of its own, not an API
  token; one stream is one long request, not a rate; and a browser's ``EventSource``
  gives up for good on a 429 instead of waiting, so throttling would end streams that
  cost almost nothing to keep.
- upstreams' webhooks (``/v1/gateway/hooks/...``): they carry a secret of their own, and
  a throttled one would leave a routed prediction to be polled.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicast import urls
from replicast.auth_failures import locked_out
from replicast.errors import ReplicastError, Throttled, Unauthenticated
from replicast.http.openai_problems import openai_error
from replicast.http.problems import problem
from replicast.ratelimit import Decision
from replicast.state import IDENTIFIED, AppState

CREATES = "creates"
REQUESTS = "requests"

_UNCOUNTED = (urls.head(urls.STREAM), urls.head(urls.GATEWAY_HOOK))


def counted(route: str) -> bool:
    """Whether requests to ``route`` (a path under the API's prefixes) draw from a bucket:
    all but event streams and upstreams' webhooks."""
    return not route.startswith(_UNCOUNTED)


def bucket_for(method: str, path: str) -> str | None:
    """Which of a token's buckets a request draws from; None for none."""
    if urls.images_route(path) is not None:
        return CREATES if method == "POST" else REQUESTS
    route = urls.api_route(path)
    if route is None or not counted(route):
        return None
    if method == "POST" and (route == urls.PREDICTIONS
                             or urls.matches(urls.MODEL_PREDICTIONS, route)):
        return CREATES
    return REQUESTS


def rate_headers(decision: Decision) -> dict[str, str]:
    """What the client is told about its bucket."""
    return {"ratelimit-remaining": str(decision.remaining),
            "ratelimit-reset": str(decision.reset)}


class RateLimits:
    """ASGI middleware: count the request against its token's bucket, or refuse it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = await self._decide(scope) if scope["type"] == "http" else None
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = rate_headers(decision)
        if not decision.allowed:
            refusal = throttled(decision)
            if urls.images_route(_route_path(scope)) is not None:
                response: Response | None = openai_error(refusal)
            else:
                response = problem(refusal)
            assert response is not None
            response.headers.update(headers)
            await response(scope, receive, send)
            return
        raw = [(name.encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _decide(self, scope: Scope) -> Decision | None:
        state: AppState | None = getattr(scope["app"].state, "replicast", None)
        if state is None or state.limiter is None or not state.rates:
            return None
        bucket = bucket_for(scope["method"], _route_path(scope))
        rate = state.rates.get(bucket) if bucket is not None else None
        if rate is None:
            return None
        authorization = Headers(scope=scope).get("authorization")
        if not authorization:
            return None
        client = scope.get("client")
        try:
            digest, scope[IDENTIFIED] = await state.identify(authorization, client,
                                                             confirm=False)
        except (Unauthenticated, Throttled) as exc:
            scope[IDENTIFIED] = exc  # the route answers 401, or 429 to a locked-out address
            return None
        except ReplicastError:
            return None  # the route answers 503 while the store is away
        # Whether the address is locked out is asked in the same step as the count.
        failures = state.auth_failures
        guard = failures.guard(client) if failures is not None else None
        decision = await state.limiter.check(f"{bucket}:{digest}", rate, guard)
        if decision is not None and decision.guarded:
            scope[IDENTIFIED] = locked_out(decision)  # the route answers 429
            return None
        return decision


def throttled(decision: Decision) -> Throttled:
    """The error a refused request answers with."""
    return Throttled("Request was throttled. Your rate limit resets in "
                     f"~{decision.retry_after}s.", retry_after=decision.retry_after)


async def charge_create(state: AppState, digest: str) -> None:
    """Count a prediction made elsewhere than the API (the web pages) against the
    creates bucket of the token with this digest; ``Throttled`` when it is empty."""
    rate = state.rates.get(CREATES)
    if state.limiter is None or rate is None:
        return
    decision = await state.limiter.check(f"{CREATES}:{digest}", rate)
    if decision is not None and not decision.allowed:  # None: the limiter is away
        raise throttled(decision)


def _route_path(scope: Scope) -> str:
    """The path the routes see: without the ``root_path`` a proxy mounted us under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
