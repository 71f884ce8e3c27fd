"""Answering with a stored file: a local one, or an object streamed through from the bucket."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

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
    if request.method == "HEAD":
        return _Closing(found, status_code=status, headers=sent, media_type=media_type)
    return StreamingResponse(found.chunks(), status_code=status, headers=sent,
                             media_type=media_type)


def not_satisfiable(size: int) -> Response:
    """The answer to a ``Range`` past the end of a ``size``-byte file."""
    return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})


class _Closing(Response):
    """Headers only, the object's connection released once they are sent."""

    def __init__(self, found: BucketObject, **kwargs: object) -> None:
        headers = kwargs.pop("headers")
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.headers.update(headers)  # type: ignore[arg-type]
        self._found = found

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._found.close()
