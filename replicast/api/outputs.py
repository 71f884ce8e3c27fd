"""Serving output files at the unguessable URLs the worker made for them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from replicast.api.state import app_state
from replicast.errors import NotFound
from replicast.outputs.base import content_type


async def output_file(request: Request) -> Response:
    """``GET /outputs/{prediction_id}/{folder}/{name}``: no token needed, the path is the secret."""
    params = request.path_params
    path = app_state(request).outputs.locate(params["prediction_id"], params["folder"],
                                             params["name"])
    if path is None:
        raise NotFound("File not found")
    return FileResponse(
        path,
        media_type=content_type(params["name"]),
        headers={
            "Cache-Control": "public, max-age=3600, immutable",
            "X-Content-Type-Options": "nosniff",
            "Access-Control-Allow-Origin": "*",
        },
    )
