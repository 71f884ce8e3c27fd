"""Errors as OpenAI's API answers them, for the routes of its images API: a body of
``{"error": {"message", "type", "param", "code"}}`` with the status codes OpenAI uses,
so that its SDKs raise their typed errors (``BadRequestError``, ``NotFoundError``,
``AuthenticationError``, ``RateLimitError``). One table, as ``problems.py`` has for
Replicate's shape."""

from __future__ import annotations

from typing import Any

from replicast.errors import (
    BodyTooLarge,
    Forbidden,
    InvalidRequest,
    MalformedBody,
    NotFound,
    RequestError,
    Throttled,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UpstreamRefused,
)
from replicast.http.responses import JSONResponse
from replicast.openai_images.errors import ImageRequestRefused, ModelNotFound

# Checked in order: (class, status, type, code).
ERRORS: list[tuple[type[RequestError], int, str, str | None]] = [
    (Unauthenticated, 401, "invalid_request_error", "invalid_api_key"),
    (NotFound, 404, "invalid_request_error", "not_found"),
    (Forbidden, 403, "invalid_request_error", "forbidden"),
    (InvalidRequest, 400, "invalid_request_error", "invalid_value"),
    (MalformedBody, 400, "invalid_request_error", "invalid_json"),
    (BodyTooLarge, 413, "invalid_request_error", "request_too_large"),
    (UnsupportedMediaType, 415, "invalid_request_error", "unsupported_media_type"),
    (Throttled, 429, "requests", "rate_limit_exceeded"),
    (Unavailable, 503, "server_error", "service_unavailable"),
]


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def openai_error(exc: RequestError) -> JSONResponse:
    """``exc`` as OpenAI answers it."""
    if isinstance(exc, UpstreamRefused):
        return JSONResponse(error_body(exc.detail, "invalid_request_error"),
                            status_code=exc.status if 400 <= exc.status < 600 else 502)
    status, type_, code = 400, "invalid_request_error", None
    for kind, s, t, c in ERRORS:
        if isinstance(exc, kind):
            status, type_, code = s, t, c
            break
    param = None
    message = exc.detail
    if isinstance(exc, ImageRequestRefused):
        param, code = exc.param, exc.code
    elif isinstance(exc, ModelNotFound):
        param, code = "model", "model_not_found"
    elif isinstance(exc, InvalidRequest) and exc.fields:
        first = exc.fields[0]
        param = first.field.removeprefix("input.") or None
        message = "; ".join(f"{f.field.removeprefix('input.')}: {f.description}"
                            if f.field else f.description for f in exc.fields)
    headers = None
    if isinstance(exc, Throttled | Unavailable) and exc.retry_after is not None:
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(error_body(message, type_, param, code), status_code=status,
                        headers=headers)
