"""Which bucket each request draws from."""

from __future__ import annotations

import pytest

from replicast.http.ratelimits import CREATES, REQUESTS, bucket_for


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_both_create_routes_draw_from_creates(prefix):
    assert bucket_for("POST", f"{prefix}/predictions") == CREATES
    assert bucket_for("POST", f"{prefix}/models/black-forest-labs/flux-schnell/predictions") \
        == CREATES


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/predictions"),
    ("GET", "/v1/predictions/abc"),
    ("POST", "/v1/predictions/abc/cancel"),
    ("GET", "/v1/models/a/b/predictions"),  # no such route: a 404, counted all the same
    ("POST", "/v1/models/a/predictions"),
    ("GET", "/replicate/v1/account"),
    ("POST", "/v1/files"),
    ("GET", "/v1/no-such-route"),
])
def test_every_other_api_request_draws_from_requests(method, path):
    assert bucket_for(method, path) == REQUESTS


@pytest.mark.parametrize("path", [
    "/v1/streams/sometoken", "/replicate/v1/streams/sometoken", "/health/live",
    "/health/ready", "/metrics", "/openapi.json", "/outputs/p/t/out-0.webp", "/v1",
    "/v10/predictions",
])
def test_streams_and_what_is_not_the_api_draw_from_none(path):
    assert bucket_for("GET", path) is None
    assert bucket_for("POST", path) is None


async def test_predictions_made_on_the_pages_draw_from_the_tokens_creates_bucket():
    from types import SimpleNamespace

    from replicast.errors import Throttled
    from replicast.http.ratelimits import charge_create
    from replicast.ratelimit.base import Rate
    from replicast.ratelimit.memory import MemoryLimiter

    state = SimpleNamespace(limiter=MemoryLimiter(), rates={CREATES: Rate(60, 2)})
    await charge_create(state, "digest-a")
    await charge_create(state, "digest-a")
    with pytest.raises(Throttled, match=r"resets in ~\d+s") as refused:
        await charge_create(state, "digest-a")
    assert refused.value.retry_after >= 1
    await charge_create(state, "digest-b")  # another token, another bucket
    off = SimpleNamespace(limiter=None, rates={})
    for _ in range(5):
        await charge_create(off, "digest-a")  # limits off: never refused


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1"])
@pytest.mark.parametrize("route", ["/images/generations", "/images/edits"])
def test_openai_images_requests_are_creates(prefix, route):
    assert bucket_for("POST", f"{prefix}{route}") == CREATES
