"""Serving output files at the signed, expiring URLs a prediction shows for them."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from replicast.errors import NotFound
from replicast.http.stored import not_satisfiable, stored_response
from replicast.outputs.base import content_type
from replicast.state import app_state
from replicast.storage.bucket import RangeNotSatisfiable


async def output_file(request: Request) -> Response:
    """``GET /outputs/{expires}.{signature}/{prediction_id}/{folder}/{name}``.

    No token needed: the signature is the proof. A missing, wrong or expired one is
    answered like a file that does not exist, so nothing can be learnt by probing.
    """
    params = request.path_params
    state = app_state(request)
    resource = f"{params['prediction_id']}/{params['folder']}/{params['name']}"
    if not state.links.valid(resource, params["proof"]):
        raise NotFound("File not found, or its link has expired")
    try:
        found = await state.outputs.open(params["prediction_id"], params["folder"],
                                         params["name"], request.headers.get("range"))
    except RangeNotSatisfiable as exc:
        return not_satisfiable(exc.size)
    if found is None:
        raise NotFound("File not found, or its link has expired")
    # Caches keep the file no longer than its link works.
    max_age = max(0, int(params["proof"].partition(".")[0]) - int(time.time()))
    return stored_response(
        request, found,
        media_type=content_type(params["name"]),
        headers={
            "Cache-Control": f"private, max-age={max_age}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
                                       "style-src 'unsafe-inline'; sandbox",
            "Access-Control-Allow-Origin": "*",
        },
    )
