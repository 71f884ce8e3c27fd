"""Small output files answered as ``data:`` URIs (REPLICAST_DATA_URI_OUTPUTS).

The official clients make file objects (``FileOutput``) only of ``https:`` and ``data:``
URLs, so against a server on plain http ``output[0].read()`` fails. With a bound set, the
responses about one prediction (create, get, cancel) carry each of its own output files
of at most that many bytes as a base64 ``data:`` URI, as Replicate's sync API once did.
The store keeps URLs: the web pages, downloads, lists, streams and webhooks show them.

One response inlines at most ``RESPONSE_FILES`` bounds' worth of files, in the order
the output names them; files past that, or over the bound, stay (signed) URLs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from replicast.errors import StorageUnavailable
from replicast.outputs.base import OutputStore, content_type
from replicast.urls import OUTPUTS

RESPONSE_FILES = 16
"""How many bounds' worth of file bytes one response may inline."""


async def inline(outputs: OutputStore, max_bytes: int, output: Any, base_url: str,
                 prediction_id: str) -> Any:
    """``output`` with this prediction's own files of at most ``max_bytes`` as data URIs."""
    own = f"{base_url}{OUTPUTS}/{prediction_id}/"
    budget = RESPONSE_FILES * max_bytes
    uris: dict[str, str] = {}
    for url in json_strings(output):
        if url in uris or not url.startswith(own) or budget <= 0:
            continue
        folder, _, name = url[len(own):].partition("/")
        if not name:
            continue
        # Missing (removed by retention), over the bound, or the bucket not answering (it
        # logs that): the URL answers for it.
        try:
            data = await outputs.read(prediction_id, folder, unquote(name),
                                      min(max_bytes, budget))
        except StorageUnavailable:
            continue
        if data is None:
            continue
        budget -= len(data)
        media = content_type(unquote(name)).replace("; ", ";")
        uris[url] = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
    return _replace(output, uris) if uris else output


def json_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (output file URLs among them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from json_strings(item)


def _replace(value: Any, uris: dict[str, str]) -> Any:
    if isinstance(value, str):
        return uris.get(value, value)
    if isinstance(value, list):
        return [_replace(item, uris) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, uris) for key, item in value.items()}
    return value
