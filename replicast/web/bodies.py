"""Reading the pages' form posts: URL-encoded or multipart, within size limits.

As with ``POST /v1/files``, the body is cut off as soon as it is longer than allowed,
and multipart file parts are spooled (in memory up to 1 MiB, then on disk), never
held whole in memory. The caller closes the form (``FormData.close``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from replicast.errors import BodyTooLarge, MalformedBody, UnsupportedMediaType

MAX_FIELDS = 200
MAX_FILES = 8
MAX_FIELD_BYTES = 1 << 20


async def read_form(request: Request, max_bytes: int, max_files: int = MAX_FILES) -> FormData:
    """The posted form; ``BodyTooLarge`` past ``max_bytes`` (and a ``MalformedBody`` for
    more than ``max_files`` files)."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"The form is larger than {max_bytes} bytes")
    if not kind:
        return FormData()  # nothing posted (a bare POST, such as a script's)
    stream = _limited(request, max_bytes)
    try:
        if kind == "application/x-www-form-urlencoded":
            return await FormParser(request.headers, stream, max_fields=MAX_FIELDS,
                                    max_part_size=MAX_FIELD_BYTES).parse()
        if kind == "multipart/form-data":
            return await MultiPartParser(request.headers, stream, max_files=max_files,
                                         max_fields=MAX_FIELDS,
                                         max_part_size=MAX_FIELD_BYTES).parse()
    except MultiPartException as exc:
        raise MalformedBody(f"The form cannot be read: {exc.message}") from None
    except ClientDisconnect:
        raise MalformedBody("The browser went away before sending the whole form") from None
    raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded or "
                               "multipart/form-data")


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"The form is larger than {max_bytes} bytes")
        yield chunk
