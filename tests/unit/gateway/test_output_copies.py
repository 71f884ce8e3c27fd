"""A public route's outputs: declared files are copied here, URL-shaped text stays text."""

from __future__ import annotations

from typing import Any

import httpx

from replicast.gateway.runner import UpstreamRunner
from replicast.models.schema import InputField, cog_openapi
from tests.support.context import RecordingContext
from tests.unit.gateway.test_client import _client

FILE = "https://replicate.delivery/xezq/out-0.webp"
TEXT_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
URI = {"type": "string", "format": "uri"}


class Upstream:
    """Runs every prediction to ``output`` at once; serves files from its CDN."""

    def __init__(self, output: Any) -> None:
        self.output = output
        self.downloads: list[str] = []

    def api(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "up-1", "status": "starting"})
        return httpx.Response(200, json={"id": "up-1", "status": "succeeded",
                                         "output": self.output})

    def files(self, request: httpx.Request) -> httpx.Response:
        self.downloads.append(str(request.url))
        return httpx.Response(200, content=b"webp bytes")


async def run(output_schema: dict[str, Any], output: Any) -> tuple[Any, Upstream,
                                                                    RecordingContext]:
    upstream = Upstream(output)
    client, _ = _client(upstream.api)  # https://upstream.example: a public route
    client._files = httpx.AsyncClient(transport=httpx.MockTransport(upstream.files))
    schema = cog_openapi([InputField("prompt", "string", default="x")], output_schema)
    context = RecordingContext()
    result = await UpstreamRunner(client, "a/b", schema).predict(context, {})
    return result, upstream, context


async def test_url_shaped_text_is_returned_as_text():
    result, upstream, context = await run({"type": "string"}, TEXT_URL)
    assert result == TEXT_URL
    assert upstream.downloads == [] and context.saved == {}


async def test_declared_files_are_copied_and_text_beside_them_is_not():
    schema = {"type": "object", "properties": {
        "images": {"type": "array", "items": URI},
        "caption": {"type": "string"}}}
    result, upstream, context = await run(schema, {"images": [FILE, FILE],
                                                   "caption": TEXT_URL})
    assert upstream.downloads == [FILE]  # named twice, copied once
    assert result == {"images": ["https://files.test/out-0.webp"] * 2, "caption": TEXT_URL}
    assert context.saved == {"out-0.webp": b"webp bytes"}


async def test_text_items_of_a_streamed_output_stream_on():
    upstream = Upstream(None)
    states = iter([
        {"id": "up-1", "status": "processing", "output": [TEXT_URL]},
        {"id": "up-1", "status": "succeeded", "output": [TEXT_URL, " done"]},
    ])

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "up-1", "status": "starting"})
        return httpx.Response(200, json=next(states))

    client, _ = _client(api)
    client._files = httpx.AsyncClient(transport=httpx.MockTransport(upstream.files))
    schema = cog_openapi([], {"type": "array", "items": {"type": "string"},
                              "x-cog-array-type": "iterator"})
    context = RecordingContext()
    assert await UpstreamRunner(client, "a/b", schema).predict(context, {}) == [
        TEXT_URL, " done"]
    assert context.items[0] == TEXT_URL and upstream.downloads == []
