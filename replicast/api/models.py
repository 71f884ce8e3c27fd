"""Routes for models and their versions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from replicast.api import wire
from replicast.errors import NotFound
from replicast.http.responses import json_response
from replicast.models.base import Model
from replicast.state import app_state, authenticate, base_url


async def _model(request: Request) -> Model:
    name = f"{request.path_params['owner']}/{request.path_params['name']}"
    model = await app_state(request).registry.lookup(name)
    if model is None:
        raise NotFound()
    return model


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: every model this server runs or routes by name, on one page."""
    await authenticate(request)
    state = app_state(request)
    counts = await state.store.predictions.run_counts()
    base = base_url(request)
    listed = await state.registry.listing()
    models = [wire.model(m, base, counts.get(m.full_name, 0)) for m in listed]
    return json_response(wire.page(models, None, None))


async def get_model(request: Request) -> Response:
    """``GET /v1/models/{owner}/{name}``."""
    await authenticate(request)
    model = await _model(request)
    counts = await app_state(request).store.predictions.run_counts()
    return json_response(wire.model(model, base_url(request), counts.get(model.full_name, 0)))


async def list_versions(request: Request) -> Response:
    """``GET /v1/models/{owner}/{name}/versions``: the one version served."""
    await authenticate(request)
    return json_response(wire.page([wire.version(await _model(request))], None, None))


async def get_version(request: Request) -> Response:
    """``GET /v1/models/{owner}/{name}/versions/{version_id}``."""
    await authenticate(request)
    name = f"{request.path_params['owner']}/{request.path_params['name']}"
    model = await app_state(request).registry.lookup_model_version(
        name, request.path_params["version_id"])
    if model is None:
        raise NotFound()
    return json_response(wire.version(model))
