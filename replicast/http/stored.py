"""Answering with a stored file: a local one, or an object streamed through from the bucket."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from replicast.storage.bucket import BucketObject


def stored_response(request: Request, found: Path | BucketObject, *, media_type: str,
                    headers: Mapping[str, str]) -> Response:
    """The file ``found``, with ``headers``; an object answers a ``Range`` it was opened
    with as a 206, as a local file does."""
    if isinstance(found, Path):
        return FileResponse(found, media_type=media_type, headers=dict(headers))
    sent = {**headers, "Content-Length": str(found.size), "Accept-Ranges": "bytes"}
    status = 200
    if found.content_range:
        status = 206
        sent["Content-Range"] = found.content_range
    if request.method == "HEAD":  # headers only; the object's connection released after
        return Response(status_code=status, headers=sent, media_type=media_type,
                        background=BackgroundTask(found.close))
    return StreamingResponse(found.chunks(), status_code=status, headers=sent,
                             media_type=media_type)


def not_satisfiable(size: int) -> Response:
    """The answer to a ``Range`` past the end of a ``size``-byte file."""
    return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})

