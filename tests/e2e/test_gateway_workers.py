"""Gateway mode scaled out: routed predictions taken by an API process are run by a
separate ``replicast worker``, on PostgreSQL and Redis, against a real upstream.

The worker starts while the upstream is still down, so it must keep trying to resolve
the routed names in the background rather than give up (or fail to start). Webhooks
from the upstream reach the API process and wake the worker through Redis.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support import services
from tests.support.server import ServerProcess, free_port

PREDICTORS = Path(__file__).parent.parent / "predictors"
UPSTREAM_TOKEN = "r8_UpstreamTokenForTheScaledOutGateway0000"


def _predictor(ref: str, name: str) -> list[str]:
    return ["--predictor", str(PREDICTORS / ref), "--model-name", name]


@pytest.fixture
def cluster(tmp_path):
    upstream = ServerProcess(tmp_path / "upstream", token=UPSTREAM_TOKEN, port=free_port(),
                             env={"REPLICAST_ALLOW_PRIVATE_URLS": "true"},
                             args=[*_predictor("outputs.py:Text", "up/text"),
                                   *_predictor("lifecycle.py:Chatty", "pt/chatty")])
    database = asyncio.run(services.create_database())
    asyncio.run(services.empty_redis())
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"routes:\n  - models: [up/text, 'pt/*']\n    base_url: {upstream.base_url}\n"
        "    token_env: UPSTREAM_TOKEN\n    timeout: 2\n    retries: 0\n"
        "    poll_interval: 30\n    max_poll_interval: 30\n")
    api_port = free_port()
    env = {"REPLICAST_DATABASE_URL": database, "REPLICAST_BROKER_URL": services.redis_url(),
           "REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
           "REPLICAST_PUBLIC_URL": f"http://127.0.0.1:{api_port}"}
    data = tmp_path / "data"
    api = ServerProcess(data, env=env, port=api_port, args=["--no-worker"], log_name="api.log")
    worker = ServerProcess(data, env=env, command="worker", log_name="worker.log")
    started = []
    try:
        for process in (api, worker):
            started.append(process.start(timeout=60))
        yield api, worker, upstream
    finally:
        for process in started:
            process.stop()
        if upstream.process is not None:
            upstream.stop()
        asyncio.run(services.drop_database(database))


def _finished(http, prediction_id: str, timeout: float = 20.0) -> dict:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        got = http.get(f"/v1/predictions/{prediction_id}").json()
        if got["status"] in {"succeeded", "failed", "canceled"}:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{prediction_id} did not finish: {got}")


def test_a_separate_worker_runs_routed_predictions(cluster):
    api, worker, upstream = cluster
    _wait(lambda: "cannot serve up/text yet" in worker.output)  # the upstream is down
    upstream.start()
    with api.client() as http:
        exact = http.post("/v1/models/up/text/predictions", json={"input": {"prompt": "far"}})
        assert exact.status_code == 201, exact.text
        final = _finished(http, exact.json()["id"])
        assert final["status"] == "succeeded" and final["output"] == "FAR", final
        # Reached only through a pattern: found from the predictions waiting for it.
        started = time.monotonic()
        pattern = http.post("/v1/models/pt/chatty/predictions", json={"input": {"lines": 2}})
        final = _finished(http, pattern.json()["id"])
        assert final["status"] == "succeeded", final
        assert final["logs"].count("print 1\n") == 1
        # Polled every 30 s: the upstream's webhook, taken by the API process, woke it.
        assert time.monotonic() - started < 10
    # The API process created them upstream (its refusal would have been the answer);
    # the worker followed them there, without creating any again.
    assert api.output.count("runs upstream at") == 2
    assert worker.output.count(" follows ") == 2 and "runs upstream at" not in worker.output
    with upstream.client() as up:
        ran = {p["model"]: p["status"] for p in up.get("/v1/predictions").json()["results"]}
    assert ran == {"up/text": "succeeded", "pt/chatty": "succeeded"}


def _wait(check, timeout: float = 20.0) -> None:
    give_up = time.monotonic() + timeout
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
