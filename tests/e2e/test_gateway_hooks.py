"""Gateway mode with webhooks: the upstream calls the gateway back, which looks at once.

The route polls only every 30 seconds, so a routed prediction that finishes within a
couple of seconds was woken by the upstream's webhook. The upstream may call the
gateway on loopback (``REPLICAST_ALLOW_PRIVATE_URLS``); the gateway's public URL is
its own address.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, free_port

PREDICTORS = Path(__file__).parent.parent / "predictors"
UPSTREAM_TOKEN = "r8_UpstreamTokenForTheWebhookTests000000000"
SLOW_POLLS = "poll_interval: 30\n    max_poll_interval: 30\n"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("upstream"), token=UPSTREAM_TOKEN,
        env={"REPLICAST_ALLOW_PRIVATE_URLS": "true", "REPLICAST_ACCESS_LOG": "true",
             "REPLICAST_WEBHOOK_BACKOFF": "0.1"},
        args=["--predictor", str(PREDICTORS / "lifecycle.py:Chatty"), "--model-name", "up/chatty",
              "--predictor", str(PREDICTORS / "lifecycle.py:Hangs"), "--model-name", "up/hangs"],
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    folder = tmp_path_factory.mktemp("gateway")
    routes = folder / "routes.yaml"
    routes.write_text(f"routes:\n  - model: 'up/*'\n    base_url: {upstream.base_url}\n"
                      f"    token_env: UPSTREAM_TOKEN\n    {SLOW_POLLS}")
    port = free_port()
    process = ServerProcess(folder, port=port, env={
        "REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
        "REPLICAST_PUBLIC_URL": f"http://127.0.0.1:{port}", "REPLICAST_ACCESS_LOG": "true"},
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(gateway):
    with gateway.client() as http:
        yield http


@pytest.fixture(scope="module")
def upstream_http(upstream):
    with upstream.client() as http:
        yield http


def _wait_for(check, timeout: float = 10.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _upstream_one(upstream_http, model: str, status: str | None = None) -> dict:
    def found():
        results = upstream_http.get("/v1/predictions").json()["results"]
        return [p for p in results if p["model"] == model
                and (status is None or p["status"] == status)]
    return _wait_for(found)[0]


def _hooks(upstream_http, upstream_id: str) -> list[dict]:
    return upstream_http.get(f"/v1/predictions/{upstream_id}/webhooks").json()["results"]


def _polls(upstream: ServerProcess, upstream_id: str) -> int:
    return upstream.output.count(f'"GET /v1/predictions/{upstream_id} HTTP')


def test_the_upstreams_webhooks_wake_the_routed_prediction(http, gateway, upstream,
                                                           upstream_http):
    started = time.monotonic()
    created = http.post("/v1/models/up/chatty/predictions", json={"input": {"lines": 3}},
                        headers={"Prefer": "wait=10"}).json()
    final = _wait_for(lambda: (got := http.get(f"/v1/predictions/{created['id']}").json()
                               )["status"] == "succeeded" and got)
    assert time.monotonic() - started < 5, "polled every 30 s, so only a webhook can explain it"
    assert final["logs"].count("print 2\n") == 1
    upstream_id = _upstream_one(upstream_http, "up/chatty")["id"]
    deliveries = _wait_for(lambda: [d for d in _hooks(upstream_http, upstream_id)
                                    if d["event"] == "completed" and d["attempts"]])
    url = deliveries[0]["url"]
    assert url.startswith(f"{gateway.base_url}/v1/gateway/hooks/")
    assert UPSTREAM_TOKEN not in url and gateway.token not in url
    # The hook's MAC is a secret: neither side logs it, though both log the call.
    prediction_id, mac = url.rsplit("/", 1)[1].split(".")
    assert f"POST /v1/gateway/hooks/{prediction_id}.[redacted]" in gateway.output
    assert mac not in gateway.output and mac not in upstream.output
    statuses = [a["status_code"] for d in _hooks(upstream_http, upstream_id)
                for a in d["attempts"]]
    assert statuses and all(200 <= code < 300 for code in statuses), statuses


def test_a_bad_token_is_a_404_and_a_forged_body_changes_nothing(http, gateway, upstream,
                                                                 upstream_http):
    created = http.post("/v1/models/up/hangs/predictions", json={"input": {"seconds": 60}})
    prediction_id = created.json()["id"]
    upstream_one = _upstream_one(upstream_http, "up/hangs", "processing")
    hook = _wait_for(lambda: _hooks(upstream_http, upstream_one["id"]))[0]["url"]
    token = hook.rsplit("/", 1)[1]
    forged = {"id": upstream_one["id"], "status": "succeeded", "output": "forged"}
    try:
        # Once the upstream's own webhooks (start, logs) are all delivered, nothing wakes it.
        _wait_for(lambda: len(found := _hooks(upstream_http, upstream_one["id"])) >= 2
                  and all(d["state"] != "pending" for d in found))
        time.sleep(0.3)
        polls = _polls(upstream, upstream_one["id"])
        other = prediction_id[:-1] + ("1" if prediction_id[-1] == "0" else "0")
        for bad in (f"{prediction_id}.{'A' * 43}", prediction_id, "x", f"{token}x",
                    f"{other}.{token.rsplit('.', 1)[1]}"):
            response = httpx.post(f"{gateway.base_url}/v1/gateway/hooks/{bad}", json=forged)
            assert response.status_code == 404, bad
        time.sleep(0.5)  # time enough for a wrongly woken runner to have polled
        assert _polls(upstream, upstream_one["id"]) == polls
        # A true token with a false body: the runner looks upstream and believes that.
        response = httpx.post(hook, json=forged)
        assert response.status_code == 204
        _wait_for(lambda: _polls(upstream, upstream_one["id"]) > polls)
        got = http.get(f"/v1/predictions/{prediction_id}").json()
        assert got["status"] == "processing" and got["output"] is None
    finally:
        http.post(f"/v1/predictions/{prediction_id}/cancel")
