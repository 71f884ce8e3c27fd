"""JSON and problem-details responses, encoded with orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

PROBLEM_TYPE = "application/problem+json"


class JSONResponse(Response):
    """``application/json`` encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON response."""
    return JSONResponse(content, status_code=status, headers=headers)


def problem_response(status: int, title: str, detail: str,
                     extra: Mapping[str, Any] | None = None,
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 7807 problem, in the shape Replicate's API sends."""
    body = {"title": title, "detail": detail, "status": status, **(extra or {})}
    response = JSONResponse(body, status_code=status, headers=headers)
    response.headers["content-type"] = PROBLEM_TYPE
    return response
