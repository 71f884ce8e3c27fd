"""What operators and orchestrators ask: is it alive, is it ready, what are its figures.

No token: probes and scrapers do not carry one, and nothing here tells more than
counts and names.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from replicast.api.responses import json_response
from replicast.api.state import app_state
from replicast.errors import ReplicastError
from replicast.metrics import CONTENT_TYPE


async def live(request: Request) -> Response:
    """``GET /health/live``: the process answers (restart it if not)."""
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /health/ready``: it can do its work now: the store and the broker answer,
    and a worker's models are set up (send it traffic, or count it in, if so)."""
    state = app_state(request)
    problems: dict[str, str] = {}
    for name, check in (("store", state.store.ping), ("broker", state.broker.ping)):
        try:
            await check()
        except ReplicastError as exc:
            problems[name] = str(exc)
    if state.worker is not None:
        for model in state.worker.models:
            report = model.runner.setup_report()
            if report is not None and report["status"] == "starting":
                problems[model.full_name] = "setting up"
    if problems:
        return json_response({"status": "unavailable", "problems": problems}, status=503)
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus's text format."""
    state = app_state(request)
    return Response(await state.metrics.render(state.store), media_type=CONTENT_TYPE)
