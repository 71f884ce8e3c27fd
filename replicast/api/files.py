"""Routes for uploaded files: create, list, get, delete, download."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from replicast.accounts.account import Account
from replicast.api import wire
from replicast.api.pagination import NEXT, PREVIOUS, decode_cursor, encode_cursor
from replicast.files import wire as file_wire
from replicast.files.file import StoredFile
from replicast.files.names import visible
from replicast.http.responses import json_response
from replicast.http.stored import not_satisfiable, stored_response
from replicast.http.uploads import read_upload
from replicast.state import api_prefix, app_state, authenticate, base_url
from replicast.storage.bucket import RangeNotSatisfiable

_SIGNED = ("owner", "expiry", "signature")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()-]+")


def _json(request: Request, f: StoredFile, account: Account) -> dict[str, Any]:
    # A file's URLs name the prefix of the request, as a prediction's do.
    files, prefix = app_state(request).files, api_prefix(request)
    return file_wire.to_json(f, files.download_url(f, account.username, prefix), prefix)


async def create(request: Request) -> Response:
    """``POST /v1/files``: multipart/form-data with the file in ``content``."""
    account = await authenticate(request)
    state = app_state(request)
    async with read_upload(request, state.settings.max_file_bytes) as upload:
        created = await state.files.create(
            account, upload.content, name=upload.name, content_type=upload.content_type,
            metadata=upload.metadata, base_url=base_url(request))
    body = _json(request, created, account)
    return json_response(body, status=201, headers={"Location": body["urls"]["get"]})


async def list_(request: Request) -> Response:
    """``GET /v1/files``: newest first, 100 a page, absolute next/previous URLs."""
    account = await authenticate(request)
    params = request.query_params
    before = after = None
    if params.get("cursor"):
        direction, position = decode_cursor(params["cursor"])
        before, after = (position, None) if direction == NEXT else (None, position)
    page = await app_state(request).files.list(account, before=before, after=after)
    url = f"{base_url(request)}{request.url.path}"
    kept = [(k, v) for k, v in params.multi_items() if k != "cursor"]

    def link(direction: str, position: Any) -> str | None:
        if position is None:
            return None
        return f"{url}?{urlencode([*kept, ('cursor', encode_cursor(direction, position))])}"

    return json_response(wire.page(
        [_json(request, f, account) for f in page.results],
        link(NEXT, page.next), link(PREVIOUS, page.previous),
    ))


async def get(request: Request) -> Response:
    """``GET /v1/files/{file_id}``."""
    account = await authenticate(request)
    found = await app_state(request).files.get(account, request.path_params["file_id"])
    return json_response(_json(request, found, account))


async def delete(request: Request) -> Response:
    """``DELETE /v1/files/{file_id}``: 204 and no body."""
    account = await authenticate(request)
    await app_state(request).files.delete(account, request.path_params["file_id"])
    return Response(status_code=204)


async def download(request: Request) -> Response:
    """``GET /v1/files/{file_id}/download``: the bytes, with the account's token or with
    a signed query (``owner``, ``expiry``, ``signature``) and no token."""
    files = app_state(request).files
    file_id = request.path_params["file_id"]
    params = request.query_params
    if any(name in params for name in _SIGNED):
        found = await files.signed(params.get("owner", ""), file_id, params.get("expiry", ""),
                                   params.get("signature", ""))
    else:
        found = await files.get(await authenticate(request), file_id)
    try:
        stored = await files.open(found, request.headers.get("range"))
    except RangeNotSatisfiable as exc:
        return not_satisfiable(exc.size)
    response = stored_response(request, stored, media_type=found.content_type, headers={
        "Content-Disposition": content_disposition(found.name),
        "X-Content-Type-Options": "nosniff",
        # Whatever was uploaded, a browser that opens it anyway runs nothing in it.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-cache",
    })
    # Exactly as stored: FileResponse would add a charset to text types.
    response.headers["content-type"] = found.content_type
    response.headers["etag"] = f'"{found.md5}"'
    return response


def content_disposition(name: str) -> str:
    """``attachment`` with the file's name: an ASCII fallback any client reads safely,
    and the exact name, less its hidden characters, in RFC 5987 form."""
    base = visible(name).replace("\\", "/").rsplit("/", 1)[-1]
    fallback = _UNSAFE_NAME.sub("_", base).strip(" .") or "file"
    exact = quote(base, safe="") or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
