"""A routed model at its upstream's versions: the latest, older ones, and bare ids."""

from __future__ import annotations

import httpx
import pytest

from replicast.errors import InvalidVersion
from replicast.gateway.gateway import Gateway
from replicast.gateway.routing import UpstreamRoute
from replicast.models.registry import Registry
from replicast.models.schema import InputField, cog_openapi
from replicast.outputs.local import LocalOutputs
from replicast.predictions.status import Status
from replicast.worker.worker import Worker
from tests.support.harness import Harness

LATEST, OLDER = "a" * 64, "b" * 64
SCHEMA_NOW = cog_openapi([InputField("prompt", "string", default="x")], {"type": "string"})
SCHEMA_THEN = cog_openapi([InputField("text", "string")], {"type": "string"})


async def no_files(url: str) -> None:
    return None


class Upstream:
    """Answers like a Replicate-compatible API with one model at two versions."""

    def __init__(self) -> None:
        self.created: list[dict] = []
        self.asked: list[str] = []
        self.busy = 0  # creates to answer 503 first
        self.versions_gone = False  # no longer answers for older versions

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.asked.append(f"{request.method} {path}")
        if request.method == "POST" and self.busy:
            self.busy -= 1
            return httpx.Response(503)
        if request.method == "POST":
            self.created.append(httpx.Response(200, content=request.content).json())
            return httpx.Response(201, json={"id": f"up-{len(self.created)}"})
        if path == "/v1/models/acme/thing":
            return httpx.Response(200, json={
                "owner": "acme", "name": "thing", "is_official": False,
                "latest_version": {"id": LATEST, "created_at": "2026-11-01T00:00:00Z",
                                   "openapi_schema": SCHEMA_NOW}})
        if path == f"/v1/models/acme/thing/versions/{OLDER}" and not self.versions_gone:
            return httpx.Response(200, json={"id": OLDER, "created_at": "2026-10-01T00:00:00Z",
                                             "openapi_schema": SCHEMA_THEN})
        if path.startswith("/v1/predictions/up-"):
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[1],
                                             "status": "succeeded", "output": "done"})
        return httpx.Response(404, json={"detail": "Not found"})


@pytest.fixture
async def setup(request):
    route = UpstreamRoute(("acme/thing", "acme/*"), "https://up.example", "T",
                          token="r8_secret", backoff=0.01, poll_interval=0.01)
    gateway = Gateway([route], allow_private=False)
    local = getattr(request, "param", [])
    upstream = Upstream()
    client = gateway._clients[route]
    await client._api.aclose()
    client._api = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    registry = Registry(local, resolver=gateway)
    served: list[str] = []
    registry.on_resolved(lambda model: served.append(model.version_id))
    yield registry, upstream, served
    await gateway.close()


def _local(name: str):
    from tests.support.harness import model

    async def run(context, inputs):
        return "local"

    return model(name, run)


async def test_an_older_version_is_described_and_created_by_it(setup):
    registry, upstream, served = setup
    model = await registry.lookup_version(f"acme/thing:{OLDER}")
    assert model.version_id == OLDER and model.prediction_version == OLDER
    assert "text" in model.openapi_schema["components"]["schemas"]["Input"]["properties"]
    assert served == [LATEST]  # the worker serves the name, at its latest version
    assert await model.runner.submit("local", {"text": "t"}, no_files) == "up-1"
    assert upstream.created == [{"input": {"text": "t"}, "version": OLDER}]
    # Described once: versions never change.
    again = await registry.lookup_version(f"acme/thing:{OLDER}")
    assert again is model
    assert upstream.asked.count(f"GET /v1/models/acme/thing/versions/{OLDER}") == 1
    # Now known by its bare id too, and as a version of the model.
    assert await registry.lookup_version(OLDER) is model
    assert await registry.lookup_model_version("acme/thing", OLDER) is model


async def test_a_bare_id_finds_the_latest_version_of_a_name_routed_exactly(setup):
    registry, _, served = setup
    model = await registry.lookup_version(LATEST)  # nothing described before
    assert model.full_name == "acme/thing" and model.version_id == LATEST
    assert LATEST in served


async def test_unknown_versions_are_invalid(setup):
    registry, _, _ = setup
    with pytest.raises(InvalidVersion):
        await registry.lookup_version(f"acme/thing:{'c' * 64}")
    with pytest.raises(InvalidVersion):
        await registry.lookup_version("c" * 64)
    with pytest.raises(InvalidVersion):
        await registry.lookup_version(f"acme/missing:{LATEST}")
    assert await registry.lookup_model_version("acme/thing", "c" * 64) is None


async def test_a_worker_creates_an_older_version_by_that_version(setup, tmp_path):
    registry, upstream, _ = setup
    harness = Harness(tmp_path, [])
    harness.registry = registry
    harness.worker = Worker(harness.settings, registry, harness.store, harness.broker,
                            harness.lifecycle, LocalOutputs(tmp_path / "outputs"),
                            harness.fetcher)
    await harness.open()
    try:
        upstream.busy = 1  # not created while the create waits: left to the worker
        older = await registry.lookup_version(f"acme/thing:{OLDER}")
        created = await harness.service.create(harness.account, older, {"text": "t"},
                                               base_url="http://test", version=OLDER)
        assert created.upstream_id is None and created.version == OLDER
        final = await harness.until(created.id, lambda p: p.terminal)
        assert final.status is Status.SUCCEEDED and final.output == "done"
        assert upstream.created == [{"input": {"text": "t"}, "version": OLDER}]
    finally:
        await harness.close()


async def test_one_handed_on_is_followed_whatever_its_upstream_says_of_versions(setup,
                                                                                tmp_path):
    registry, upstream, _ = setup
    harness = Harness(tmp_path, [])
    harness.registry = registry
    harness.worker = Worker(harness.settings, registry, harness.store, harness.broker,
                            harness.lifecycle, LocalOutputs(tmp_path / "outputs"),
                            harness.fetcher)
    older = await registry.lookup_version(f"acme/thing:{OLDER}")
    await harness.open(worker=False)
    try:
        created = await harness.service.create(harness.account, older, {"text": "t"},
                                               base_url="http://test", version=OLDER)
        assert created.upstream_id == "up-1"
        # Before it runs, the upstream forgets the version (or the cache lets it go).
        upstream.versions_gone = True
        registry.resolver._versions.clear()
        await harness.worker.start()
        final = await harness.until(created.id, lambda p: p.terminal)
        assert final.status is Status.SUCCEEDED and final.output == "done"
        assert len(upstream.created) == 1  # followed, never created again
    finally:
        await harness.close()


@pytest.mark.parametrize("setup", [[_local("acme/local")]], indirect=True)
async def test_a_local_model_a_pattern_also_covers_has_only_its_own_version(setup):
    registry, upstream, _ = setup
    local = registry.get("acme/local")
    assert await registry.lookup_version(f"acme/local:{local.version_id}") is local
    with pytest.raises(InvalidVersion):
        await registry.lookup_version(f"acme/local:{OLDER}")
    assert not any("acme/local" in asked for asked in upstream.asked)
