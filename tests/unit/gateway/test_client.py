"""The upstream client: backoff, Retry-After, retries, errors that never carry the token."""

from __future__ import annotations

import email.utils
import logging

import httpx
import pytest

from replicast.errors import UpstreamError
from replicast.gateway.client import UpstreamClient, backoff, retry_after
from replicast.gateway.routing import UpstreamRoute
from replicast.gateway.runner import _file_name

TOKEN = "r8_ThisUpstreamTokenMustNeverLeak0000"


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 0.5) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(20, 0.5) == 60.0
    assert backoff(3, 1.0, cap=5.0) == 5.0


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    when = email.utils.formatdate(1000.0 + 7, usegmt=True)
    assert retry_after(when, now=1000.0) == pytest.approx(7.0)
    assert retry_after(email.utils.formatdate(10.0, usegmt=True), now=1000.0) == 0.0


def test_output_file_names_are_safe_and_unique() -> None:
    taken: set[str] = set()
    assert _file_name("https://x/a/out-0.webp", taken) == "out-0.webp"
    assert _file_name("https://y/b/out-0.webp", taken) == "out-0-1.webp"
    assert _file_name("https://x/..%2F..%2Fetc%2Fpasswd", taken) == "etc-passwd"
    assert _file_name("https://x/", taken) == "output"


def _client(handler, *, retries: int = 2) -> tuple[UpstreamClient, list[float]]:
    route = UpstreamRoute(("a/*",), "https://upstream.example", "T", token=TOKEN,
                          retries=retries, backoff=0.25)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = UpstreamClient(route, allow_private=False, sleep=sleep)
    client._api = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client, waits


async def test_a_429_is_retried_after_its_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}),
                    httpx.Response(201, json={"id": "abc", "status": "starting"})])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    client, waits = _client(handler)
    created = await client.create("a/b", {"x": 1}, None)
    assert created["id"] == "abc" and waits == [2.0]
    assert seen[0].url.path == "/v1/models/a/b/predictions"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_version_creates_through_predictions() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "abc"})

    client, _ = _client(handler)
    await client.create("a/b", {}, "f" * 64)
    assert seen[0].url.path == "/v1/predictions"
    assert b'"version":"' + b"f" * 64 in seen[0].content.replace(b" ", b"")


async def test_a_down_upstream_fails_after_bounded_retries_naming_it(caplog) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("Connection refused", request=request)

    client, waits = _client(handler, retries=3)
    with caplog.at_level(logging.DEBUG), pytest.raises(UpstreamError) as raised:
        await client.get("some-id")
    assert calls == 4 and waits == [0.25, 0.5, 1.0]
    message = str(raised.value)
    assert "https://upstream.example" in message and "after 4 tries" in message
    assert TOKEN not in message and TOKEN not in caplog.text


async def test_a_refusal_carries_the_upstreams_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": "- input.prompt: prompt is required",
                                         "status": 422})

    client, waits = _client(handler)
    with pytest.raises(UpstreamError) as raised:
        await client.create("a/b", {}, None)
    assert raised.value.status == 422 and waits == []
    assert "prompt is required" in str(raised.value)


async def test_a_missing_model_is_none() -> None:
    client, _ = _client(lambda request: httpx.Response(404, json={"detail": "Not found"}))
    assert await client.get_model("a/b") is None
