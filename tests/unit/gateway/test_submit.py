"""Creating a routed prediction upstream while the create request waits (``submit``)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from replicast.errors import UpstreamError, UpstreamRefused
from replicast.gateway.runner import UpstreamRunner
from replicast.models.schema import NO_DEFAULT, InputField, cog_openapi
from tests.support.context import RecordingContext
from tests.unit.gateway.test_client import TOKEN, _client

SCHEMA = cog_openapi([InputField("prompt", "string", default="x")], {"type": "string"})


async def no_files(url: str) -> None:
    return None


def _runner(handler) -> tuple[UpstreamRunner, list[float]]:
    client, waits = _client(handler)
    return UpstreamRunner(client, "a/b", SCHEMA), waits


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
    runner, _ = _runner(lambda request: httpx.Response(409, text="conflict"))
    with pytest.raises(UpstreamRefused) as refused:
        await runner.submit("local-id", {}, no_files)
    assert refused.value.status == 409 and "conflict" in refused.value.detail
    assert refused.value.title is None and refused.value.fields == []


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_a_refused_token_or_account_is_the_gateways_502_not_the_callers(status) -> None:
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


class Following:
    """An upstream whose prediction runs until canceled; counts the cancels."""

    def __init__(self, create_delay: float = 0.0) -> None:
        self.cancels = 0
        self.create_delay = create_delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/cancel"):
            self.cancels += 1
            return httpx.Response(200, json={"id": "up-1", "status": "canceled"})
        if request.method == "POST":
            await asyncio.sleep(self.create_delay)
            return httpx.Response(201, json={"id": "up-1", "status": "starting"})
        return httpx.Response(200, json={"id": "up-1", "status": "processing"})


async def _run_then_stop(upstream: Following, context: RecordingContext, *,
                         after: float) -> None:
    client, _ = _client(upstream)
    runner = UpstreamRunner(client, "a/b", SCHEMA)
    running = asyncio.create_task(runner.predict(context, {}))
    await asyncio.sleep(after)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


@pytest.mark.parametrize("interrupted,cancels", [(False, 1), (True, 0)])
async def test_a_cancel_is_forwarded_but_a_restart_leaves_it_running(interrupted, cancels):
    upstream, context = Following(), RecordingContext()
    context.upstream_id = "up-1"  # created at the create, followed here
    context.interrupted = interrupted
    await _run_then_stop(upstream, context, after=0.05)
    assert upstream.cancels == cancels


@pytest.mark.parametrize("interrupted,cancels,kept", [(False, 1, None), (True, 0, "up-1")])
async def test_a_create_in_flight_when_stopped_lands_then_is_canceled_or_kept(
        interrupted, cancels, kept):
    upstream, context = Following(create_delay=0.2), RecordingContext()
    context.interrupted = interrupted
    await _run_then_stop(upstream, context, after=0.05)
    assert upstream.cancels == cancels
    assert context.upstream_id == kept  # for the run that follows it after the restart


async def test_a_504_or_an_unreadable_answer_to_a_create_may_have_made_it() -> None:
    for answer in (httpx.Response(504), httpx.Response(201, text="<html>"),
                   httpx.Response(201, json={"status": "starting"})):
        runner, _ = _runner(lambda request, answer=answer: answer)
        with pytest.raises(UpstreamError) as raised:
            await runner.submit("local-id", {}, no_files)
        assert raised.value.unanswered


async def test_a_null_that_means_left_out_is_sent_left_out() -> None:
    schema = cog_openapi([
        InputField("prompt", "string", default="x"),
        InputField("note", "string", default=None, nullable=True),
        InputField("seed", "integer", default=NO_DEFAULT, nullable=True),
        InputField("steps", "integer", default=4, nullable=True),
    ], {"type": "string"})
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["input"])
        return httpx.Response(201, json={"id": "up-9"})

    client, _ = _client(handler)
    runner = UpstreamRunner(client, "a/b", schema)
    given = {"prompt": None, "note": None, "seed": None, "steps": None}
    assert await runner.submit("local-id", given, no_files) == "up-9"
    # A Cog server refuses an explicit null; left out, these two are None there too.
    assert sent == [{"prompt": None, "steps": None}]
