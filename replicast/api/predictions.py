"""Routes for predictions: create (by model or by version), get, list, cancel."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from replicast import times
from replicast.accounts.account import Account
from replicast.api import wire
from replicast.api.headers import parse_cancel_after, parse_prefer
from replicast.api.openapi_schemas import CONTEXT
from replicast.api.pagination import NEXT, PREVIOUS, decode_cursor, encode_cursor
from replicast.errors import InvalidField, InvalidRequest, NotFound
from replicast.http.body import BodySchema, parse_json, read_body
from replicast.http.responses import json_response
from replicast.models.base import Model
from replicast.outputs.inline import inline
from replicast.predictions import wire as prediction_wire
from replicast.predictions.prediction import Prediction
from replicast.predictions.service import ListFilter
from replicast.state import AppState, api_prefix, app_state, authenticate, base_url
from replicast.webhooks.delivery import ALL_EVENTS
from replicast.webhooks.targets import check_target

_COMMON: dict[str, Any] = {
    "input": {"type": "object"},
    "webhook": {"type": "string"},
    "webhook_completed": {"type": "string"},
    "webhook_events_filter": {"type": "array", "items": {"enum": ALL_EVENTS}},
    "stream": {"type": "boolean"},
    "context": CONTEXT,
}
MODEL_CREATE = BodySchema(
    {"type": "object", "required": ["input"], "additionalProperties": False,
     "properties": _COMMON}
)
VERSION_CREATE = BodySchema(
    {"type": "object", "required": ["version", "input"], "additionalProperties": False,
     "properties": {"version": {"type": "string"}, **_COMMON}}
)


async def create_for_model(request: Request) -> Response:
    """``POST /v1/models/{owner}/{name}/predictions``."""
    account = await authenticate(request)
    state = app_state(request)
    model = await state.registry.lookup(
        f"{request.path_params['owner']}/{request.path_params['name']}")
    if model is None:
        raise NotFound()
    body = MODEL_CREATE.check(parse_json(await read_body(request,
                                                         state.settings.max_request_bytes)))
    return await _create(request, account, model, body, version=None)


async def create(request: Request) -> Response:
    """``POST /v1/predictions`` with ``version`` as ``owner/name[:id]`` or a version id."""
    account = await authenticate(request)
    state = app_state(request)
    body = VERSION_CREATE.check(parse_json(await read_body(request,
                                                           state.settings.max_request_bytes)))
    model = await state.registry.lookup_version(body["version"])
    explicit = body["version"].rpartition(":")[2]
    version = explicit if explicit == model.version_id else None
    return await _create(request, account, model, body, version=version)


async def _create(request: Request, account: Account, model: Model, body: dict[str, Any],
                  version: str | None) -> Response:
    wait = parse_prefer(request.headers.get("prefer"))
    cancel_after = parse_cancel_after(request.headers.get("cancel-after"))
    state = app_state(request)
    webhook, events = _webhook(body, state.settings.allow_private_urls)
    prediction = await state.predictions.create(
        account, model, body["input"], base_url=base_url(request), version=version,
        webhook=webhook, webhook_events_filter=events, cancel_after=cancel_after, wait=wait,
        context=body.get("context"), api_prefix=api_prefix(request),
    )
    payload = await _with_data_uris(state, prediction, prediction_wire.to_json(
        prediction, links=state.links, still_starting=wait is not None,
        prefix=api_prefix(request), queue=await state.predictions.queue_place(prediction)))
    headers = {"Location": payload["urls"]["get"]}
    if wait is not None:
        headers["Preference-Applied"] = f"wait={int(wait)}" if wait != 60 else "wait"
    return json_response(payload, status=201, headers=headers)


def _webhook(body: dict[str, Any], allow_private: bool) -> tuple[str | None, list[str] | None]:
    webhook = body.get("webhook")
    events = body.get("webhook_events_filter")
    if webhook is None and body.get("webhook_completed") is not None:
        webhook, events = body["webhook_completed"], ["completed"]
    if webhook is None:
        if events is not None:
            raise InvalidRequest.from_fields([InvalidField(
                "required", "webhook", "webhook_events_filter needs a webhook URL"
            )])
        return None, None
    if events == []:
        raise InvalidRequest.from_fields([InvalidField(
            "array_min_items", "webhook_events_filter",
            "webhook_events_filter must name at least one event (or be left out for all)",
        )])
    check_target(webhook, allow_private=allow_private)
    wanted = set(ALL_EVENTS if events is None else events)
    return webhook, [e for e in ALL_EVENTS if e in wanted]


async def get(request: Request) -> Response:
    """``GET /v1/predictions/{id}``."""
    account = await authenticate(request)
    state = app_state(request)
    prediction = await state.predictions.get(account, request.path_params["id"])
    return json_response(await _with_data_uris(state, prediction, prediction_wire.to_json(
        prediction, links=state.links, prefix=api_prefix(request),
        queue=await state.predictions.queue_place(prediction))))


async def cancel(request: Request) -> Response:
    """``POST /v1/predictions/{id}/cancel``."""
    account = await authenticate(request)
    state = app_state(request)
    prediction = await state.predictions.cancel(account, request.path_params["id"])
    return json_response(await _with_data_uris(state, prediction, prediction_wire.to_json(
        prediction, links=state.links, prefix=api_prefix(request))))


async def _with_data_uris(state: AppState, prediction: Prediction,
                          payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with the prediction's small output files as ``data:`` URIs, where
    REPLICAST_DATA_URI_OUTPUTS asks for them (``replicast.outputs.inline``). Lists keep
    URLs: a page of a hundred predictions would read every file of each."""
    bound = state.settings.data_uri_outputs
    if bound <= 0 or payload["output"] is None:
        return payload
    output = await inline(state.outputs, bound, prediction.output, prediction.base_url,
                          prediction.id)
    payload["output"] = state.links.sign(output, prediction.base_url, prediction.id)
    return payload


async def list_(request: Request) -> Response:
    """``GET /v1/predictions``: newest first, 100 a page, absolute next/previous URLs."""
    account = await authenticate(request)
    params = request.query_params
    selection = ListFilter(
        created_after=_date(params.get("created_after"), "created_after"),
        created_before=_date(params.get("created_before"), "created_before"),
        source=_source(params.get("source")),
    )
    before = after = None
    if params.get("cursor"):
        direction, position = decode_cursor(params["cursor"])
        before, after = (position, None) if direction == NEXT else (None, position)
    page = await app_state(request).predictions.list(account, selection, before=before,
                                                     after=after)
    url = f"{base_url(request)}{request.url.path}"
    kept = [(k, v) for k, v in params.multi_items() if k != "cursor"]

    def link(direction: str, position: Any) -> str | None:
        if position is None:
            return None
        query = urlencode([*kept, ("cursor", encode_cursor(direction, position))])
        return f"{url}?{query}"

    return json_response(wire.page(
        [prediction_wire.to_json(p, links=app_state(request).links, prefix=api_prefix(request))
         for p in page.results],
        link(NEXT, page.next), link(PREVIOUS, page.previous),
    ))


def _date(value: str | None, name: str) -> Any:
    if value is None:
        return None
    try:
        return times.parse_rfc3339(value)
    except ValueError:
        raise InvalidRequest.from_fields([InvalidField(
            "format", name, f"{name} must be an RFC 3339 date-time such as 2025-01-01T00:00:00Z"
        )]) from None


def _source(value: str | None) -> str | None:
    if value is not None and value not in {"web", "api"}:
        raise InvalidRequest.from_fields([InvalidField(
            "enum", "source", 'source must be one of the following: "web", "api"'
        )])
    return value
