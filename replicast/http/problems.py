"""The one table from errors to HTTP problem responses."""

from __future__ import annotations

import logging
from dataclasses import asdict

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicast.errors import (
    BodyTooLarge,
    BrokerError,
    DiskFull,
    FilesQuotaExceeded,
    FileTooLarge,
    Forbidden,
    InvalidInput,
    InvalidRequest,
    InvalidVersion,
    MalformedBody,
    NotFound,
    RequestError,
    StorageUnavailable,
    StoreError,
    StoreUnavailable,
    Throttled,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UpstreamRefused,
)
from replicast.http.responses import problem_response

log = logging.getLogger(__name__)

# Checked in order: the first class an error is an instance of decides.
PROBLEMS: list[tuple[type[RequestError], int, str]] = [
    (Unauthenticated, 401, "Unauthenticated"),
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Forbidden"),
    (InvalidVersion, 422, "Invalid version or not permitted"),
    (InvalidInput, 422, "Input validation failed"),
    (InvalidRequest, 422, "Invalid request"),
    (MalformedBody, 400, "Malformed request body"),
    (FileTooLarge, 413, "File too large"),
    (FilesQuotaExceeded, 413, "Storage limit reached"),
    (BodyTooLarge, 413, "Request body too large"),
    (UnsupportedMediaType, 415, "Unsupported media type"),
    (Throttled, 429, "Too many requests"),
    (Unavailable, 503, "Service unavailable"),
]

_HTTP_TITLES = {404: "Not found", 405: "Method not allowed"}
DISK_FULL_RETRY_AFTER = 30
"""Seconds a client is told to wait after a 507: freeing space takes someone a while."""


async def request_error(request: Request, exc: Exception) -> Response:
    """A ``RequestError`` as its problem response."""
    assert isinstance(exc, RequestError)
    response = problem(exc)
    return response if response is not None else await unexpected_error(request, exc)


def problem(exc: RequestError) -> Response | None:
    """The problem response the table gives ``exc``; None if it has no row for it."""
    if isinstance(exc, UpstreamRefused):
        extra = {"invalid_fields": exc.fields} if exc.fields else {}
        return problem_response(exc.status, exc.title or _refused_title(exc.status),
                                exc.detail, extra)
    for kind, status, title in PROBLEMS:
        if isinstance(exc, kind):
            extra = {}
            if isinstance(exc, InvalidRequest) and exc.fields:
                extra["invalid_fields"] = [asdict(f) for f in exc.fields]
            headers = None
            if isinstance(exc, Throttled | Unavailable) and exc.retry_after is not None:
                headers = {"Retry-After": str(exc.retry_after)}
            return problem_response(status, title, exc.detail, extra, headers)
    return None


def _refused_title(status: int) -> str:
    if status == 502:
        return "Bad gateway"
    return dict((s, t) for _, s, t in PROBLEMS).get(status, "Refused by the upstream")


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as problems."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem_response(404, "Not found", NotFound().detail)
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be handled."
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(exc.status_code, _HTTP_TITLES.get(exc.status_code, "Error"), detail,
                            headers=exc.headers)


async def unavailable(request: Request, exc: Exception) -> Response:
    """The store or the broker cannot do it now: a 503, or a 507 for a full disk, that
    the client may retry."""
    if isinstance(exc, DiskFull):
        return problem_response(
            507, "Insufficient storage",
            "Replicast's disk is full: nothing can be saved until its operator frees "
            "space; try again later.", headers={"Retry-After": str(DISK_FULL_RETRY_AFTER)})
    if isinstance(exc, StorageUnavailable):  # the bucket logs each failure
        detail = "Replicast cannot use its file storage right now; try again shortly."
    elif isinstance(exc, StoreUnavailable):  # the store logs each outage once
        detail = "Replicast cannot use its database right now; try again shortly."
    else:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        detail = "Replicast cannot reach its database or broker right now; try again shortly."
    return problem_response(503, "Service unavailable", detail, headers={"Retry-After": "1"})


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Anything else: logged in full, answered without internals."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "Internal server error",
        "Replicast failed to handle this request; its log has the details.",
    )


class UnexpectedErrors:
    """Answers an error no handler took with ``unexpected_error``, and keeps the
    connection open.

    Starlette's outermost middleware answers such an error too, but then raises it again
    for the server to see, and uvicorn closes the connection of a request that raised:
    the client's next request on that keep-alive connection would fail. Here the error
    ends with its answer, unless part of an answer was sent already: then only closing
    the connection can tell the client that it is incomplete.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            response = await unexpected_error(Request(scope, receive), exc)
            await response(scope, receive, send)


EXCEPTION_HANDLERS = {
    RequestError: request_error,
    HTTPException: http_error,
    StoreError: unavailable,
    BrokerError: unavailable,
    Exception: unexpected_error,
}
