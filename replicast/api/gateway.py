"""``POST /v1/gateway/hooks/{token}``: an upstream's webhook for a routed prediction.

No API token: the URL's token (``replicast.gateway.hooks``) is the proof, and a wrong
one is a 404, as for a prediction that does not exist. A delivery only wakes the
runner following the prediction, wherever it runs (an event on the prediction's
channel); the runner fetches the upstream's state itself, so the body is not
believed, only looked at to ignore what is not a prediction.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from replicast.errors import NotFound
from replicast.predictions.events import Event, EventKind
from replicast.state import app_state

MAX_BODY = 4 * 1024 * 1024
"""Most bytes of a delivery read; a longer one is ignored (it wakes nothing)."""


async def hook(request: Request) -> Response:
    """Wake the runner of the prediction the token was made for."""
    state = app_state(request)
    signer = state.hooks
    prediction_id = None if signer is None else signer.prediction_id(
        request.path_params["token"])
    if prediction_id is None:
        raise NotFound()
    prediction = await state.store.predictions.get(prediction_id)
    if prediction is None:
        raise NotFound()
    if not prediction.terminal and await _usable(request):
        state.broker.publish(Event(prediction_id, EventKind.NUDGE))
    return Response(status_code=204)


async def _usable(request: Request) -> bool:
    """Whether the body is a prediction as an upstream sends one (not too large)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return False
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and isinstance(body.get("status"), str)
