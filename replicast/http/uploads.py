"""Reading ``multipart/form-data`` bodies: ``POST /v1/files``, and the images of
``POST /v1/images/edits`` (``read_form``), the bodies that are not JSON.

The parser spools file parts to temporary files (in memory up to 1 MiB, then on disk),
so an upload is never held whole in memory. The body is cut off as soon as it is
larger than the file limit allows, and the ``content`` part checked exactly after.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from replicast.errors import (
    FileTooLarge,
    InvalidField,
    InvalidRequest,
    MalformedBody,
    UnsupportedMediaType,
)
from replicast.files.names import visible
from replicast.http.body import keepable

MAX_NAME_BYTES = 255
MAX_METADATA_BYTES = 64 * 1024
# Room in a body for what is not the file: boundaries, part headers, the other parts.
_OVERHEAD = 2 * MAX_METADATA_BYTES + 64 * 1024
# A media type sent back as a header: printable ASCII only (quoted values included), or
# the response could not be written.
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
                   r"(?:[ \t]*;[ \t]*[A-Za-z0-9!#$&^_.+-]+="
                   r"(?:\"[\x20\x21\x23-\x5b\x5d-\x7e]*\"|[A-Za-z0-9!#$&^_.+-]+))*")
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Upload:
    """What ``POST /v1/files`` was sent, checked."""

    content: BinaryIO
    """The file's bytes (spooled), from the ``content`` part."""
    name: str
    content_type: str
    metadata: dict[str, Any]


@contextlib.asynccontextmanager
async def read_upload(request: Request, max_file_bytes: int) -> AsyncIterator[Upload]:
    """The upload in ``request``; its spooled parts are closed when the block ends."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedMediaType(
            "Send files as multipart/form-data, with the file's bytes in a part named "
            f"content (this body is {kind or 'of no declared type'})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + _OVERHEAD:
        raise FileTooLarge(max_file_bytes)
    parser = MultiPartParser(request.headers, _limited(request, max_file_bytes),
                             max_files=4, max_fields=16, max_part_size=MAX_METADATA_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedBody(f"The multipart body cannot be read: {exc.message}") from None
    except ClientDisconnect:
        raise MalformedBody("The client went away before sending the whole body") from None
    try:
        yield await _upload(form, max_file_bytes)
    finally:
        await form.close()


@contextlib.asynccontextmanager
async def read_form(request: Request, max_bytes: int, *, max_files: int
                    ) -> AsyncIterator[FormData]:
    """A ``multipart/form-data`` body of up to ``max_files`` files and ``max_bytes`` in
    all, as parts; its spooled files are closed when the block ends."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send this request as multipart/form-data (this body is "
            f"{kind or 'of no declared type'})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + _OVERHEAD:
        raise FileTooLarge(max_bytes)
    parser = MultiPartParser(request.headers, _limited(request, max_bytes),
                             max_files=max_files, max_fields=64,
                             max_part_size=MAX_METADATA_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedBody(f"The multipart body cannot be read: {exc.message}") from None
    except ClientDisconnect:
        raise MalformedBody("The client went away before sending the whole body") from None
    try:
        yield form
    finally:
        await form.close()


async def _limited(request: Request, max_file_bytes: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_file_bytes + _OVERHEAD:
            raise FileTooLarge(max_file_bytes)
        yield chunk


async def _upload(form: FormData, max_file_bytes: int) -> Upload:
    content = form.get("content")
    if not isinstance(content, UploadFile):
        raise InvalidRequest.from_fields([InvalidField(
            "required", "content",
            "content is required: a file part named content, with a filename")])
    if content.size is not None and content.size > max_file_bytes:
        raise FileTooLarge(max_file_bytes)
    problems: list[InvalidField] = []
    name = visible(await _text(form, "filename") or "") or visible(content.filename or "") \
        or "file"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        problems.append(InvalidField(
            "string_too_long", "filename",
            f"filename must be at most {MAX_NAME_BYTES} bytes of UTF-8"))
    content_type = (await _text(form, "type") or "").strip()
    if not content_type:
        content_type = media_type(content.content_type)
    elif not _is_media_type(content_type):
        problems.append(InvalidField(
            "format", "type", "type must be a MIME type, such as image/png"))
    metadata: Any = {}
    raw = await _text(form, "metadata")
    if raw is not None and raw.strip():
        try:
            metadata = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(InvalidField("invalid_json", "metadata",
                                         f"metadata must be valid JSON: {exc}"))
        else:
            if not isinstance(metadata, dict):
                problems.append(InvalidField("invalid_type", "metadata",
                                             "metadata must be a JSON object"))
            else:
                try:
                    keepable(metadata, raw, "metadata")
                except InvalidRequest as exc:
                    problems.extend(exc.fields)
    if problems:
        raise InvalidRequest.from_fields(problems)
    return Upload(content.file, name, content_type, metadata)


def _is_media_type(value: str) -> bool:
    return len(value) <= 255 and _MIME.fullmatch(value) is not None


def media_type(declared: str | None) -> str:
    """A part's declared ``Content-Type`` if it is a well-formed media type, else
    ``application/octet-stream`` (the web pages' uploads take it so too)."""
    value = (declared or "").strip()
    return value if _is_media_type(value) else DEFAULT_TYPE


def file_name(name: str | None) -> str | None:
    """``name`` without its hidden characters (``files.names``) if a file may be called
    so (something left, at most 255 bytes of UTF-8), else None."""
    kept = visible(name or "")
    if not kept or len(kept.encode("utf-8")) > MAX_NAME_BYTES:
        return None
    return kept


async def _text(form: FormData, name: str) -> str | None:
    """A part as text, whether it came as a field or as a file (the npm client sends
    ``metadata`` as a JSON blob); None if there is no such part."""
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    data = await value.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise InvalidRequest.from_fields([InvalidField(
            "too_large", name, f"{name} must be at most {MAX_METADATA_BYTES} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest.from_fields([InvalidField(
            "invalid_encoding", name, f"{name} must be UTF-8 text")]) from None
