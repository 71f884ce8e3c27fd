"""Gateway mode: a Replicast routing models to a second, real Replicast as its upstream.

The upstream serves test predictors under names the gateway does not have (``up/*``,
``raw/*``); the gateway routes them there with the upstream's own token, which must
never show in the gateway's answers or log.
"""

from __future__ import annotations

import re
import shutil
import signal
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
             "REPLICAST_RATE_LIMIT_REQUESTS": "0", "REPLICAST_ACCESS_LOG": "true",
             # Smaller than the gateway's: a body can pass there and be refused here.
             "REPLICAST_MAX_REQUEST_BYTES": "65536"},
        args=[*_predictor("outputs.py:Text", "up/text"),
              *_predictor("outputs.py:File", "up/file"),
              *_predictor("lifecycle.py:Hangs", "up/hangs"),
              *_predictor("lifecycle.py:Chatty", "up/chatty"),
              *_predictor("inputs.py:Predictor", "up/inputs"),
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
def changing_port():
    """The port of an upstream whose model changes under the gateway (started by its test)."""
    return free_port()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream, doomed, changing_port):
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
        f"  - model: 'ch/*'\n    base_url: http://127.0.0.1:{changing_port}\n"
        f"    token_env: UPSTREAM_TOKEN\n    {FAST}"
    )
    process = ServerProcess(
        folder, env={"REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
                     "DOWN_TOKEN": DOWN_TOKEN, "REPLICAST_ALLOW_PRIVATE_URLS": "true",
                     "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0",
                     "REPLICAST_LOG_LEVEL": "debug", "REPLICAST_SHUTDOWN_GRACE": "1"}).start()
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


def test_uploaded_input_files_and_secrets_reach_the_upstream(client, tmp_path,
                                                             upstream_http):
    # The official client uploads files to the gateway's Files API and passes their URLs,
    # which the upstream cannot read: the gateway uploads them there.
    (tmp_path / "one.txt").write_text("first file")
    (tmp_path / "two.txt").write_text("second file")
    with (tmp_path / "one.txt").open("rb") as one, (tmp_path / "two.txt").open("rb") as two:
        output = client.run("up/inputs", input={"text": "with files", "document": one,
                                                "documents": [two], "key": "s3cret"})
    assert output["document"]["text"] == "first file"
    assert output["documents"] == ["second file"]
    assert output["key"] == "terc3s"
    (ran,) = [p for p in _upstream_predictions(upstream_http, "up/inputs")
              if p["input"].get("text") == "with files"]
    upstream_files = f"{str(upstream_http.base_url).rstrip('/')}/v1/files/"
    assert ran["input"]["document"].startswith(upstream_files)
    assert ran["input"]["key"] != "s3cret"  # masked there, as here


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


def test_an_upstream_refusal_is_the_creates_answer(client, http, upstream_http):
    # Within the gateway's schema and body limit, over the upstream's body limit.
    big = "refused " + "x" * 100_000
    time.sleep(1.1)  # the upstream takes one create a second: not a 429 this time
    response = http.post("/v1/models/up/text/predictions", json={"input": {"prompt": big}})
    assert response.status_code == 413, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 413 and problem["title"] == "Request body too large"
    assert problem["detail"] == "The request body is larger than the limit of 65536 bytes"
    time.sleep(1.1)
    with pytest.raises(ReplicateError) as raised:
        client.predictions.create(model="up/text", input={"prompt": big})
    assert raised.value.status == 413
    # Nothing was made, here or there.
    for side in (http, upstream_http):
        listed = side.get("/v1/predictions").json()["results"]
        assert not any(str(p["input"].get("prompt", "")).startswith("refused ") for p in listed)


def test_an_upstream_refusal_is_shown_on_the_models_page(gateway):
    with httpx.Client(base_url=gateway.base_url, headers={"Origin": gateway.base_url}) as web:
        session = web.post("/login", data={"token": TOKEN, "next": "/"}).headers["set-cookie"]
        cookie = {"Cookie": session.split(";")[0]}
        form = web.get("/models/up/text", headers=cookie)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        time.sleep(1.1)  # the upstream takes one create a second: not a 429 this time
        answer = web.post("/models/up/text", headers=cookie,
                          data={"csrf_token": csrf[1], "prompt": "refused " + "x" * 100_000})
    assert answer.status_code == 413
    # The upstream's words (the gateway's own limit would speak of "the form").
    assert "The request body is larger than the limit of 65536 bytes" in answer.text
    assert 'id="input-prompt"' in answer.text  # the form again, with what was typed


def test_an_upstream_422_for_a_model_changed_there_is_the_creates_answer(
        http, changing_port, tmp_path):
    before = ServerProcess(tmp_path / "before", token=UPSTREAM_TOKEN, port=changing_port,
                           args=_predictor("outputs.py:Text", "ch/model")).start()
    try:
        described = http.get("/v1/models/ch/model").json()  # cached by the gateway
    finally:
        before.stop()
    after = ServerProcess(tmp_path / "after", token=UPSTREAM_TOKEN, port=changing_port,
                          args=_predictor("inputs.py:Predictor", "ch/model")).start()
    try:
        response = http.post("/v1/models/ch/model/predictions", json={"input": {"prompt": "x"}})
        with after.client() as after_http:
            listed = after_http.get("/v1/predictions").json()["results"]
            now = after_http.get("/v1/models/ch/model").json()["latest_version"]["id"]
    finally:
        after.stop()
    # The upstream no longer has the version the gateway knew: its 422, as it sent it.
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "Invalid version or not permitted"
    assert response.json()["detail"].startswith("The specified version does not exist")
    assert described["latest_version"]["id"] != now  # the model did change upstream
    assert listed == []
    here = http.get("/v1/predictions").json()["results"]
    assert not any(p["model"] == "ch/model" for p in here)  # nothing kept at the gateway


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


def test_a_gateway_stopped_for_a_restart_leaves_the_upstream_prediction_running(
        client, gateway, upstream_http):
    # Near the end of the module: it restarts the gateway.
    prediction = client.predictions.create(model="up/hangs", input={"seconds": 4.5})
    _wait_for(lambda: (prediction.reload(), prediction.status == "processing")[1])
    assert gateway.stop() in (0, -signal.SIGTERM)  # the run outlasts the second of grace
    (made,) = [p for p in _upstream_predictions(upstream_http, "up/hangs")
               if p["input"] == {"seconds": 4.5}]
    assert made["status"] == "processing"  # not canceled by the stop
    gateway.start()
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert upstream_http.get(f"/v1/predictions/{made['id']}").json()["status"] == "succeeded"
    assert len([p for p in _upstream_predictions(upstream_http, "up/hangs")
                if p["input"] == {"seconds": 4.5}]) == 1


def test_a_restarted_gateway_follows_the_same_upstream_prediction(client, gateway,
                                                                     upstream_http):
    # Last in the module: it kills the gateway.
    prediction = client.predictions.create(model="up/hangs", input={"seconds": 2.5})
    _wait_for(lambda: (prediction.reload(), prediction.status == "processing")[1])
    gateway.kill()
    gateway.start()
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "woke up"
    made = [p for p in _upstream_predictions(upstream_http, "up/hangs")
            if p["input"] == {"seconds": 2.5}]
    assert len(made) == 1 and made[0]["status"] == "succeeded"
