"""Gateway mode: a Replicast routing models to a second, real Replicast as its upstream.

The upstream serves test predictors under names the gateway does not have (``up/*``,
``raw/*``); the gateway routes them there with the upstream's own token, which must
never show in the gateway's answers or log.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.support.receiver import Receiver
from tests.support.server import TOKEN, ServerProcess, free_port

PREDICTORS = Path(__file__).parent.parent / "predictors"
UPSTREAM_TOKEN = "r8_UpstreamTokenNeverToBeSeenAtTheGateway0"
DOWN_TOKEN = "r8_SecondUpstreamTokenAlsoNeverSeen000000"
FAST = "timeout: 5\n    retries: 2\n    backoff: 0.1\n    poll_interval: 0.05\n" \
       "    max_poll_interval: 0.2\n"


def _predictor(ref: str, name: str) -> list[str]:
    return ["--predictor", str(PREDICTORS / ref), "--model-name", name]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    # One create a second, in a bucket of one: a second create within the second is a 429.
    process = ServerProcess(
        tmp_path_factory.mktemp("upstream"), token=UPSTREAM_TOKEN,
        env={"REPLICAST_RATE_LIMIT_CREATES": "60", "REPLICAST_RATE_LIMIT_BURST_SECONDS": "1",
             "REPLICAST_RATE_LIMIT_REQUESTS": "0", "REPLICAST_ACCESS_LOG": "true"},
        args=[*_predictor("outputs.py:Text", "up/text"),
              *_predictor("outputs.py:File", "up/file"),
              *_predictor("lifecycle.py:Hangs", "up/hangs"),
              *_predictor("lifecycle.py:Chatty", "up/chatty"),
              *_predictor("outputs.py:File", "raw/file")],
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def doomed(tmp_path_factory):
    """A second upstream, stopped by the test that needs one to go down."""
    process = ServerProcess(tmp_path_factory.mktemp("doomed"), token=DOWN_TOKEN,
                            port=free_port(),
                            args=_predictor("lifecycle.py:Hangs", "dn/hangs"))
    yield process
    if process.process is not None:
        process.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream, doomed):
    folder = tmp_path_factory.mktemp("gateway")
    routes = folder / "routes.yaml"
    routes.write_text(
        "routes:\n"
        f"  - models: [up/text, 'up/*']\n    base_url: {upstream.base_url}\n"
        f"    token_env: UPSTREAM_TOKEN\n    {FAST}"
        f"  - model: 'raw/*'\n    base_url: {upstream.base_url}/replicate\n"
        f"    token_env: UPSTREAM_TOKEN\n    copy_outputs: false\n    {FAST}"
        f"  - model: 'dn/*'\n    base_url: {doomed.base_url}\n"
        f"    token_env: DOWN_TOKEN\n    {FAST}"
        f"  - model: gone/model\n    base_url: http://127.0.0.1:{free_port()}\n"
        f"    token_env: DOWN_TOKEN\n    {FAST}"
    )
    process = ServerProcess(
        folder, env={"REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
                     "DOWN_TOKEN": DOWN_TOKEN, "REPLICAST_ALLOW_PRIVATE_URLS": "true",
                     "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0",
                     "REPLICAST_LOG_LEVEL": "debug"}).start()
    yield process
    process.stop()
    # Whatever happened in the module, the upstream tokens never reached the log.
    assert UPSTREAM_TOKEN not in process.output
    assert DOWN_TOKEN not in process.output


@pytest.fixture(scope="module")
def client(gateway):
    with httpx.HTTPTransport() as transport:
        yield replicate.Client(api_token=TOKEN, base_url=gateway.base_url, transport=transport)


@pytest.fixture(scope="module")
def http(gateway):
    with gateway.client() as http:
        yield http


@pytest.fixture(scope="module")
def upstream_http(upstream):
    with upstream.client() as http:
        yield http


def _upstream_predictions(upstream_http, model: str) -> list[dict]:
    results = upstream_http.get("/v1/predictions").json()["results"]
    return [p for p in results if p["model"] == model]


def _wait_for(check, timeout: float = 20.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_client_run_goes_through_the_upstream(client, upstream_http):
    assert client.run("up/text", input={"prompt": "via the gateway"}) == "VIA THE GATEWAY"
    ran = [p for p in _upstream_predictions(upstream_http, "up/text")
           if p["input"] == {"prompt": "via the gateway"}]
    assert len(ran) == 1 and ran[0]["status"] == "succeeded"


def test_a_routed_prediction_is_the_gateways_own(client, gateway, upstream_http):
    prediction = client.predictions.create(model="up/text", input={"prompt": "own"})
    assert prediction.urls["get"].startswith(f"{gateway.base_url}/v1/predictions/")
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.output == "OWN"
    assert prediction.metrics["predict_time"] > 0
    again = client.predictions.get(prediction.id)
    assert again.output == "OWN"
    upstream_ids = {p["id"] for p in _upstream_predictions(upstream_http, "up/text")}
    assert prediction.id not in upstream_ids


def test_logs_are_mirrored_once(client):
    prediction = client.predictions.create(model="up/chatty", input={"lines": 2})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    for number in range(2):
        assert prediction.logs.count(f"print {number}\n") == 1


def test_output_files_are_copied_and_outlive_the_upstreams(client, gateway, upstream):
    prediction = client.predictions.create(model="up/file", input={"text": "copied body"})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    url = prediction.output
    assert url.startswith(f"{gateway.base_url}/outputs/") and url.endswith("/result.txt")
    shutil.rmtree(upstream.data_dir / "outputs")  # the upstream's copy is gone
    response = httpx.get(url)
    assert response.status_code == 200 and response.text == "copied body"


def test_outputs_pass_through_when_not_copied(client, upstream):
    prediction = client.predictions.create(model="raw/file", input={"text": "raw"})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output.startswith(f"{upstream.base_url}/outputs/")
    assert httpx.get(prediction.output).text == "raw"


def test_cancel_is_forwarded_upstream(client, http, upstream_http):
    prediction = client.predictions.create(model="up/hangs", input={"seconds": 60})
    upstream_one = _wait_for(lambda: [p for p in _upstream_predictions(upstream_http, "up/hangs")
                                      if p["status"] == "processing"])[0]
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled"
    _wait_for(lambda: upstream_http.get(f"/v1/predictions/{upstream_one['id']}"
                                        ).json()["status"] == "canceled")


def test_webhooks_come_from_the_gateway(http, gateway):
    receiver = Receiver().start()
    try:
        created = http.post("/v1/models/up/text/predictions", json={
            "input": {"prompt": "hooked"}, "webhook": receiver.url,
            "webhook_events_filter": ["completed"]}).json()
        received = receiver.wait_for(lambda r: any(x.json["status"] == "succeeded" for x in r))
    finally:
        receiver.stop()
    final = next(r.json for r in received if r.json["status"] == "succeeded")
    assert final["id"] == created["id"] and final["output"] == "HOOKED"
    assert final["urls"]["get"].startswith(gateway.base_url)


def test_invalid_input_is_a_422_at_the_gateway(client, http):
    response = http.post("/v1/models/up/text/predictions", json={"input": {"prompt": 12}})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["invalid_fields"][0]["field"] == "input.prompt"
    with pytest.raises(ReplicateError) as raised:
        client.predictions.create(model="up/text", input={"prompt": ["no"]})
    assert raised.value.status == 422


def test_a_rate_limited_upstream_is_retried_after_retry_after(http, upstream):
    created = [http.post("/v1/models/up/text/predictions",
                         json={"input": {"prompt": f"burst {i}"}}).json() for i in range(3)]
    for prediction in created:
        final = _wait_for(lambda p=prediction: (got := http.get(
            f"/v1/predictions/{p['id']}").json())["status"] in {"succeeded", "failed"} and got)
        assert final["status"] == "succeeded", final["error"]
    # The upstream did refuse some of them at first.
    assert " 429" in upstream.output


def test_routed_models_are_listed_by_exact_name(http):
    listed = {m["owner"] + "/" + m["name"]: m for m in http.get("/v1/models").json()["results"]}
    assert "up/text" in listed and "replicast/echo" in listed
    schema = listed["up/text"]["latest_version"]["openapi_schema"]
    assert "prompt" in schema["components"]["schemas"]["Input"]["properties"]
    assert listed["up/text"]["served_by"] == "upstream"
    assert not any("*" in name for name in listed)


def test_one_routed_model_is_described_and_created_by_version(http, upstream_http):
    model = http.get("/v1/models/up/text").json()
    version = model["latest_version"]["id"]
    assert version == upstream_http.get("/v1/models/up/text").json()["latest_version"]["id"]
    created = http.post("/v1/predictions", json={"version": f"up/text:{version}",
                                                 "input": {"prompt": "by version"}})
    assert created.status_code == 201 and created.json()["version"] == version
    assert http.post("/v1/predictions", json={"version": f"up/text:{'0' * 64}",
                                              "input": {}}).status_code == 422


def test_unknown_names_stay_404(http):
    assert http.get("/v1/models/nobody/here").status_code == 404
    assert http.get("/v1/models/up/not-upstream").status_code == 404
    assert http.post("/v1/models/up/not-upstream/predictions",
                     json={"input": {}}).status_code == 404


def test_an_upstream_that_never_answered_is_a_503(http):
    started = time.monotonic()
    response = http.post("/v1/models/gone/model/predictions", json={"input": {}})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "http://127.0.0.1:" in response.json()["detail"]
    assert time.monotonic() - started < 10


def test_an_upstream_going_down_fails_the_prediction_naming_it(client, doomed):
    doomed.start()
    prediction = client.predictions.create(model="dn/hangs", input={"seconds": 60})
    _wait_for(lambda: (prediction.reload(), prediction.status == "processing")[1])
    doomed.kill()
    started = time.monotonic()
    prediction.wait()
    assert prediction.status == "failed"
    assert doomed.base_url in prediction.error
    assert DOWN_TOKEN not in prediction.error
    assert time.monotonic() - started < 15


def test_the_upstream_token_never_shows(http, gateway):
    for path in ("/v1/models", "/v1/models/up/text", "/v1/predictions", "/v1/account"):
        assert UPSTREAM_TOKEN not in http.get(path).text
    failed = http.post("/v1/models/gone/model/predictions", json={"input": {}})
    assert DOWN_TOKEN not in failed.text
    assert UPSTREAM_TOKEN not in gateway.output
