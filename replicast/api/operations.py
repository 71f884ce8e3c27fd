"""What operators and orchestrators ask: is it alive, is it ready, what are its figures.

No API token: probes and scrapers do not carry one, and nothing here tells more than
counts and names. Where even those are not for everyone, ``REPLICAST_METRICS_TOKEN``
makes ``/metrics`` need a token of its own (health stays open: orchestrators probe it).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from replicast.accounts.account import parse_authorization
from replicast.errors import ReplicastError, Unauthenticated
from replicast.http.responses import json_response
from replicast.metrics import CONTENT_TYPE
from replicast.state import app_state


async def live(request: Request) -> Response:
    """``GET /health/live``: the process answers (restart it if not)."""
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /health/ready``: it can do its work now: the store and the broker answer,
    and a worker's models are set up (send it traffic, or count it in, if so).

    A model whose own health check fails (a predictor's ``healthcheck()``) is named under
    ``unhealthy`` with the reason, but leaves the process ready: its predictions are
    still taken, and wait in the queue until it passes again, while the process serves
    the API and its other models."""
    state = app_state(request)
    problems: dict[str, str] = {}
    for name, check in (("store", state.store.ping), ("broker", state.broker.ping)):
        try:
            await check()
        except ReplicastError as exc:
            problems[name] = str(exc)
    unhealthy: dict[str, str] = {}
    if state.worker is not None:
        for model in state.worker.models:
            report = model.runner.setup_report()
            if report is not None and report["status"] == "starting":
                problems[model.full_name] = "setting up"
            health = model.runner.health()
            if health is not None and health.error is not None:
                unhealthy[model.full_name] = health.error
    named = {"unhealthy": unhealthy} if unhealthy else {}
    if problems:
        return json_response({"status": "unavailable", "problems": problems, **named},
                             status=503)
    return json_response({"status": "ok", **named})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus's text format; with ``REPLICAST_METRICS_TOKEN`` set,
    only for ``Authorization: Bearer <it>``."""
    state = app_state(request)
    expected = state.settings.metrics_token
    if expected is not None:
        authorization = request.headers.get("authorization")
        if not _presents(authorization, expected):
            if state.auth_failures is not None:  # a wrong token is a guess here too
                await state.auth_failures.failed(authorization, request.client)
            raise Unauthenticated("/metrics needs the metrics token: "
                                  "Authorization: Bearer <REPLICAST_METRICS_TOKEN>")
        if state.auth_failures is not None:
            await state.auth_failures.confirm(request.client)
    models = state.worker.models if state.worker is not None else ()
    return Response(await state.metrics.render(state.store, models), media_type=CONTENT_TYPE)


def _presents(authorization: str | None, expected: str) -> bool:
    """Whether ``authorization`` carries ``expected``, compared in constant time."""
    try:
        token = parse_authorization(authorization)
    except Unauthenticated:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())
