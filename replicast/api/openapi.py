"""``GET /openapi.json``: Replicast's own API, described in OpenAPI 3.1.

The shapes follow Replicate's published document; what Replicast adds (the
``/replicate/v1`` alias, stream and output routes, problem bodies) is described too.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from replicast import __version__, urls
from replicast.api.headers import MAX_WAIT
from replicast.api.openapi_schemas import DATE, SCHEMAS, ref
from replicast.http.ratelimits import counted
from replicast.http.responses import json_response
from replicast.state import base_url


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PROBLEM = {"description": "A problem", "content": {"application/problem+json": {
    "schema": ref("Problem")}}}
_ERRORS = {"401": _PROBLEM, "404": _PROBLEM}
_CREATE_ERRORS = {"400": _PROBLEM, "401": _PROBLEM, "404": _PROBLEM, "413": _PROBLEM,
                  "422": _PROBLEM,
                  # A routed model's upstream refused the create (gateway mode): its own
                  # 4xx is passed on; a refusal of the server's own credentials is a 502.
                  "4XX": {**_PROBLEM, "description": "A problem the upstream of a routed "
                          "model answered the create with"},
                  "502": {**_PROBLEM, "description": "The upstream of a routed model "
                          "refused this server's credentials"}}
_THROTTLED = {
    "description": "Over the token's rate limit, too many predictions unfinished, or too "
                   "many failed authentications from the client's address",
    "headers": {"Retry-After": {"description": "Seconds after which a retry can succeed "
                                               "(rate limits)", "schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
_UNAVAILABLE = {
    "description": "The database or the broker cannot be reached; retry",
    "headers": {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
_DISK_FULL = {**_UNAVAILABLE,
              "description": "The server's disk is full; retry once its operator frees space"}


_PREFER = {
    "name": "Prefer", "in": "header", "required": False,
    "description": f"`wait` or `wait=N` (1 to {MAX_WAIT}): hold the request until the "
                   "prediction finishes or N seconds pass. On time-out the prediction is "
                   "returned with status `starting`.",
    "schema": {"type": "string", "pattern": "^wait(=([1-9]|[1-5][0-9]|60))?$"},
}
_CANCEL_AFTER = {
    "name": "Cancel-After", "in": "header", "required": False,
    "description": "Deadline from creation (`30s`, `5m`, `1h30m`; 5 s to 24 h): `aborted` "
                   "if not started by then, `canceled` if still running.",
    "schema": {"type": "string"},
}


# Under OpenAPI 3.1 the schema of text/event-stream describes one event, as parsed.
_EVENT = {
    "type": "object",
    "required": ["event", "id", "data"],
    "properties": {
        "event": {"enum": ["output", "logs", "error", "done"]},
        "id": {"type": "string", "description": "Where to resume from, as Last-Event-ID"},
        "data": {"type": "string", "description": "An output item (text as is, anything else "
                 "as JSON), log text, or a JSON object for error and done"},
    },
}


def _path(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


_MODEL_PATH = [_path("owner", "Model owner"), _path("name", "Model name")]


def _create(request_schema: str, summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "parameters": [*params, _PREFER, _CANCEL_AFTER],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": ref(request_schema)}}},
        "responses": {"201": _json(ref("Prediction"), "Created; complete when waited for"),
                      **_CREATE_ERRORS},
    }}


def _api_paths() -> dict[str, Any]:
    query = [
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "created_after", "in": "query", "required": False, "schema": DATE},
        {"name": "created_before", "in": "query", "required": False, "schema": DATE},
        {"name": "source", "in": "query", "required": False,
         "schema": {"enum": ["api", "web"]}},
    ]
    return {
        urls.PREDICTIONS: {
            **_create("VersionPredictionRequest", "Create a prediction of a model version", []),
            "get": {"summary": "List predictions, newest first", "parameters": query,
                    "responses": {"200": _json(ref("PredictionPage"), "A page"),
                                  "401": _PROBLEM, "422": _PROBLEM}},
        },
        urls.PREDICTION: {"get": {
            "summary": "Get a prediction", "parameters": [_path("id")],
            "responses": {"200": _json(ref("Prediction"), "The prediction"), **_ERRORS}}},
        urls.PREDICTION_CANCEL: {"post": {
            "summary": "Cancel a prediction", "parameters": [_path("id")],
            "responses": {"200": _json(ref("Prediction"), "The prediction"), **_ERRORS}}},
        urls.PREDICTION_WEBHOOKS: {"get": {
            "summary": "A prediction's webhook deliveries and every attempt (Replicast)",
            "parameters": [_path("id")],
            "responses": {"200": _json(ref("WebhookDeliveries"), "Deliveries"), **_ERRORS}}},
        urls.DEFAULT_WEBHOOK_SECRET: {"get": {
            "summary": "The key the account's webhooks are signed with",
            "responses": {"200": _json(ref("WebhookSecret"), "The secret"),
                          "401": _PROBLEM}}},
        urls.MODELS: {"get": {"summary": "List models",
                            "responses": {"200": _json(ref("ModelPage"), "Models"),
                                          "401": _PROBLEM}}},
        urls.MODEL: {"get": {
            "summary": "Get a model", "parameters": _MODEL_PATH,
            "responses": {"200": _json(ref("Model"), "The model"), **_ERRORS}}},
        urls.MODEL_PREDICTIONS: _create(
            "PredictionRequest", "Create a prediction of a model", _MODEL_PATH),
        urls.MODEL_VERSIONS: {"get": {
            "summary": "List a model's versions", "parameters": _MODEL_PATH,
            "responses": {"200": _json(ref("VersionPage"), "Versions"), **_ERRORS}}},
        urls.MODEL_VERSION: {"get": {
            "summary": "Get a model version", "parameters": [*_MODEL_PATH, _path("version_id")],
            "responses": {"200": _json(ref("Version"), "The version"), **_ERRORS}}},
        urls.ACCOUNT: {"get": {"summary": "The token's account",
                             "responses": {"200": _json(ref("Account"), "The account"),
                                           "401": _PROBLEM}}},
        urls.HARDWARE: {"get": {"summary": "Hardware models run on",
                              "responses": {"200": _json(ref("Hardware"), "Hardware"),
                                            "401": _PROBLEM}}},
        urls.STREAM: {"get": {
            "summary": "Server-Sent Events of a prediction (the URL in urls.stream)",
            "security": [],
            "parameters": [_path("token"),
                           {"name": "Last-Event-ID", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "output, logs, error and done events",
                                  "content": {"text/event-stream": {"schema": _EVENT}}},
                          "404": _PROBLEM}}},
        urls.GATEWAY_HOOK: {"post": {
            "summary": "An upstream's webhook for a routed prediction (gateway mode): a hint "
                       "to fetch the upstream's state now",
            "security": [],
            "parameters": [_path("token", "The prediction's id and its HMAC, made here")],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"204": {"description": "Taken (a body that is no prediction is "
                                                 "ignored)"},
                          "404": _PROBLEM}}},
    }


def _file_paths() -> dict[str, Any]:
    file_id = [_path("file_id", "The ID of the file")]
    signed = [
        {"name": "owner", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "The username of the account that uploaded the file"},
        {"name": "expiry", "in": "query", "required": False,
         "schema": {"type": "integer", "format": "int64"},
         "description": "A Unix timestamp with expiration date of this download URL"},
        {"name": "signature", "in": "query", "required": False,
         "schema": {"type": "string"},
         "description": "A base64-encoded HMAC-SHA256 checksum of the string "
                        "'{owner} {id} {expiry}' generated with the server's signing key"},
    ]
    return {
        urls.FILES: {
            "get": {"summary": "List files, newest first",
                    "parameters": [{"name": "cursor", "in": "query", "required": False,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": _json(ref("FilePage"), "A page"),
                                  "401": _PROBLEM, "422": _PROBLEM}},
            "post": {"summary": "Create a file",
                     "requestBody": {"required": True, "content": {"multipart/form-data": {
                         "schema": ref("FileUpload")}}},
                     "responses": {"201": _json(ref("File"), "File has been created"),
                                   "400": _PROBLEM, "401": _PROBLEM, "413": _PROBLEM,
                                   "415": _PROBLEM, "422": _PROBLEM}},
        },
        urls.FILE: {
            "get": {"summary": "Get a file", "parameters": file_id,
                    "responses": {"200": _json(ref("File"), "The file"), **_ERRORS}},
            "delete": {"summary": "Delete a file", "parameters": file_id,
                       "responses": {"204": {"description": "File has been deleted"},
                                     **_ERRORS}},
        },
        urls.FILE_DOWNLOAD: {"get": {
            "summary": "Download a file: with the token, or with a signed query and none",
            "security": [{"bearerAuth": []}, {}],
            "parameters": [*file_id, *signed],
            "responses": {"200": {"description": "The content, as its content_type",
                                  "content": {"*/*": {"schema": {"type": "string",
                                                                 "format": "binary"}}}},
                          "401": _PROBLEM, "404": _PROBLEM}}},
    }


_OPENAI_ERROR = _json({"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "properties": {k: {"type": ["string", "null"]} for k in (
        "message", "type", "param", "code")}}}}, "An error, in OpenAI's shape")
_IMAGES = _json({"type": "object", "required": ["created"], "properties": {
    "created": {"type": "integer"}, "output_format": {"type": "string"},
    "size": {"type": "string"},
    "data": {"type": "array", "items": {"type": "object", "properties": {
        "url": {"type": "string", "format": "uri"}, "b64_json": {"type": "string"}}}}}},
    "The images (with stream: true, text/event-stream of OpenAI's image events)")
_IMAGE_FIELDS: dict[str, Any] = {
    "model": {"type": "string"}, "prompt": {"type": "string"},
    "n": {"type": "integer", "minimum": 1, "maximum": 10}, "size": {"type": "string"},
    "response_format": {"enum": ["url", "b64_json"]},
    "output_format": {"enum": ["png", "jpeg", "webp"]},
    "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
    "quality": {"enum": ["auto", "low", "medium", "high", "standard", "hd"]},
    "stream": {"type": "boolean"}, "partial_images": {"type": "integer"},
}


def _image_paths() -> dict[str, Any]:
    """OpenAI's images API (``docs/api.md#openai-images-api``); errors in its shape."""
    errors = {status: _OPENAI_ERROR for status in ("400", "401", "404", "413", "415", "429")}

    def operation(summary: str, media: str, extra: dict[str, Any]) -> dict[str, Any]:
        schema = {"type": "object", "required": ["prompt"],
                  "properties": {**_IMAGE_FIELDS, **extra},
                  "additionalProperties": True}
        return {"post": {"summary": summary, "requestBody": {
            "required": True, "content": {media: {"schema": schema}}},
            "responses": {"200": _IMAGES, **errors}}}

    binary = {"type": "string", "format": "binary"}
    return {
        urls.IMAGES_GENERATIONS: operation(
            "Generate images (OpenAI's images API) as a prediction", "application/json", {}),
        urls.IMAGES_EDITS: operation(
            "Edit images (OpenAI's images API) as a prediction", "multipart/form-data",
            {"image": {"oneOf": [binary, {"type": "array", "items": binary}]},
             "mask": binary}),
    }


def _limited(path: str, item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with the 429 of the rate limits, which apply to all but event streams
    and upstreams' webhooks."""
    if not counted(path):
        return item
    return {method: {**operation, "responses": {**operation["responses"], "429": _THROTTLED}}
            for method, operation in item.items()}


def _unavailable(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with the 503 (507 for a full disk) that every route reaching the store or
    broker may answer."""
    return {method: {**operation, "responses": {**operation["responses"], "503": _UNAVAILABLE,
                                                "507": _DISK_FULL}}
            for method, operation in item.items()}


_MALFORMED: dict[str, Any] = {
    "description": "Not valid HTTP/1.1 (an empty Content-Length, a character no header may "
                   "hold...), answered before any route",
    "content": _PROBLEM["content"]}


def _malformed(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with the 400 the server answers, on any path, a request it cannot parse
    (in the problem shape, beside a route's own 400 if it has one)."""
    def with_400(responses: dict[str, Any]) -> dict[str, Any]:
        own = responses.get("400")
        if own is None:
            return {**responses, "400": _MALFORMED}
        return {**responses, "400": {**own, "content": {**own["content"],
                                                        **_MALFORMED["content"]}}}

    return {method: {**operation, "responses": with_400(operation["responses"])}
            for method, operation in item.items()}


def build(server_url: str) -> dict[str, Any]:
    """The document, with ``server_url`` as its server."""
    paths: dict[str, Any] = {}
    for prefix in urls.API_PREFIXES:
        for path, item in {**_api_paths(), **_file_paths()}.items():
            paths[prefix + path] = _unavailable(_limited(path, item))
    for prefix in urls.IMAGES_PREFIXES:
        for path, item in _image_paths().items():
            paths[prefix + path] = _unavailable(item)
    paths[urls.OUTPUT] = {"get": {
        "summary": "An output file (the signed, expiring URLs in a prediction's output)",
        "security": [],
        "parameters": [_path("proof", "The link's expiry and signature: <expires>.<signature>"),
                       _path("prediction_id"), _path("folder"), _path("name")],
        "responses": {"200": {"description": "The file",
                              "content": {"*/*": {"schema": {"type": "string",
                                                             "format": "binary"}}}},
                      "404": _PROBLEM}}}
    paths[urls.OPENAPI] = {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"},
                                                                 "OpenAPI document")}}}
    paths = {path: _malformed(item) for path, item in paths.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Replicast", "version": __version__,
                 "description": "A self-hosted server for Replicate's HTTP prediction API."},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }


async def document(request: Request) -> Response:
    """``GET /openapi.json``."""
    return json_response(build(base_url(request)))
