"""Creating a routed prediction upstream while the create request waits (``submit``)."""

from __future__ import annotations

import httpx
import pytest

from replicast.errors import UpstreamError, UpstreamRefused
from replicast.gateway.runner import UpstreamRunner
from tests.unit.gateway.test_client import TOKEN, _client


async def no_files(url: str) -> None:
    return None


def _runner(handler) -> tuple[UpstreamRunner, list[float]]:
    client, waits = _client(handler)
    return UpstreamRunner(client, "a/b"), waits


async def test_a_created_prediction_gives_its_upstream_id() -> None:
    runner, waits = _runner(lambda request: httpx.Response(201, json={"id": "up-9"}))
    assert await runner.submit("local-id", {"prompt": "x"}, no_files) == "up-9"
    assert waits == []


async def test_an_upstream_422_is_passed_on_with_its_fields() -> None:
    fields = [{"type": "required", "field": "input.prompt",
               "description": "prompt is required"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"title": "Input validation failed", "status": 422,
                                         "detail": "- input.prompt: prompt is required",
                                         "invalid_fields": fields})

    runner, waits = _runner(handler)
    with pytest.raises(UpstreamRefused) as refused:
        await runner.submit("local-id", {}, no_files)
    assert refused.value.status == 422 and waits == []
    assert refused.value.title == "Input validation failed"
    assert refused.value.detail == "- input.prompt: prompt is required"
    assert refused.value.fields == fields


async def test_a_refusal_without_a_problem_body_keeps_its_status() -> None:
    runner, _ = _runner(lambda request: httpx.Response(402, text="pay up"))
    with pytest.raises(UpstreamRefused) as refused:
        await runner.submit("local-id", {}, no_files)
    assert refused.value.status == 402 and "pay up" in refused.value.detail
    assert refused.value.title is None and refused.value.fields == []


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_token_is_the_gateways_502_not_the_callers(status) -> None:
    runner, _ = _runner(lambda request: httpx.Response(status, json={"detail": "bad token"}))
    with pytest.raises(UpstreamRefused) as refused:
        await runner.submit("local-id", {}, no_files)
    assert refused.value.status == 502
    assert "https://upstream.example" in refused.value.detail
    assert "bad token" not in refused.value.detail and TOKEN not in refused.value.detail


@pytest.mark.parametrize("answer", [
    httpx.Response(429, headers={"Retry-After": "3"}),
    httpx.Response(503),
    httpx.ConnectError("Connection refused"),
])
async def test_busy_failing_or_down_leaves_the_create_to_the_run(answer) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    runner, waits = _runner(handler)
    assert await runner.submit("local-id", {}, no_files) is None
    assert calls == 1 and waits == []  # one try: the caller is waiting


async def test_a_create_that_may_have_landed_is_never_sent_again() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("timed out", request=request)

    runner, _ = _runner(handler)
    with pytest.raises(UpstreamError) as raised:
        await runner.submit("local-id", {}, no_files)
    assert raised.value.unanswered and calls == 1
    assert "did not answer" in str(raised.value)
