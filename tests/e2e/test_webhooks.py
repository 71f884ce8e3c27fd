"""Webhooks to a real receiver on loopback: signed, filtered, throttled, retried, durable."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import replicate
import standardwebhooks
from replicate.webhook import Webhooks, WebhookSigningSecret

from tests.support.receiver import Receiver
from tests.support.server import ServerProcess, free_port

JS = Path(__file__).parents[1] / "js"
FAST_RETRIES = {"REPLICAST_ALLOW_PRIVATE_URLS": "1", "REPLICAST_WEBHOOK_BACKOFF": "0.1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("webhooks"), env=FAST_RETRIES).start()
    yield process
    process.stop()


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def create(http, model, input, url, events=None, **headers):
    body = {"input": input, "webhook": url}
    if events is not None:
        body["webhook_events_filter"] = events
    response = http.post(f"/v1/models/{model}/predictions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(http, prediction_id):
    return http.get(f"/v1/predictions/{prediction_id}/webhooks").json()["results"]


def settled(http, prediction_id, count):
    """The prediction's ``count`` deliveries once none is pending any more."""
    for _ in range(300):
        found = deliveries(http, prediction_id)
        if len(found) == count and all(d["state"] != "pending" for d in found):
            return found
        time.sleep(0.02)
    raise AssertionError(found)


def test_webhooks_are_signed_so_replicates_code_and_standard_webhooks_accept_them(
        http, receiver):
    secret = http.get("/v1/webhooks/default/secret").json()["key"]
    assert secret.startswith("whsec_")
    assert http.get("/v1/webhooks/default/secret").json()["key"] == secret
    prediction = create(http, "replicast/echo", {"prompt": "signed"}, receiver.url)
    got = receiver.wait_for(lambda r: any(x.json["status"] == "succeeded" for x in r))
    for request in got:
        body = request.body.decode()
        standardwebhooks.Webhook(secret).verify(body, request.headers)
        Webhooks.validate(headers=request.headers, body=body,
                          secret=WebhookSigningSecret(key=secret), tolerance=60)
        assert request.headers["content-type"] == "application/json"
        assert request.json["id"] == prediction["id"]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(got[-1].body.decode() + " ", got[-1].headers)

    # The npm client's published check accepts them too.
    last = got[-1]
    script = ("import { validateWebhook } from 'replicate';"
              "const r = JSON.parse(process.argv[1]);"
              "console.log(await validateWebhook(r));")
    data = {"id": last.headers["webhook-id"], "timestamp": last.headers["webhook-timestamp"],
            "signature": last.headers["webhook-signature"], "body": last.body.decode(),
            "secret": secret}
    result = subprocess.run(["node", "--input-type=module", "-e", script, json.dumps(data)],
                            cwd=JS, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "true", result.stderr


def test_the_payload_is_the_prediction_as_get_returns_it(http, receiver):
    prediction = create(http, "replicast/echo", {"prompt": "a b"}, receiver.url, ["completed"])
    (request,) = receiver.wait_for(lambda r: len(r) == 1)
    assert request.json == http.get(f"/v1/predictions/{prediction['id']}").json()
    assert request.json["output"] == ["a", " b"]


def test_by_default_every_event_is_sent_start_first_completed_last(http, receiver):
    create(http, "replicast/echo", {"prompt": "one two three", "delay": 0.05}, receiver.url)
    got = receiver.wait_for(lambda r: any(x.json["status"] == "succeeded" for x in r))
    statuses = [r.json["status"] for r in got]
    assert statuses[0] == "processing" and statuses[-1] == "succeeded"
    assert set(statuses[1:-1]) <= {"processing"}
    assert got[-1].json["output"] == ["one", " two", " three"]
    assert len({r.headers["webhook-id"] for r in got}) == len(got)


@pytest.mark.parametrize("events,expected", [
    (["completed"], ["succeeded"]),
    (["start", "completed"], ["processing", "succeeded"]),
    (["start"], ["processing"]),
])
def test_the_events_filter(http, receiver, events, expected):
    prediction = create(http, "replicast/echo", {"prompt": "x y", "delay": 0.2}, receiver.url,
                        events)
    assert prediction["webhook_events_filter"] == events
    done = _until_finished(http, prediction["id"])
    receiver.wait_for(lambda r: len(r) >= len(expected))
    assert [d["event"] for d in settled(http, done["id"], len(events))] == events
    assert receiver.events() == expected


def test_output_and_logs_are_throttled_and_the_final_state_is_never_skipped(http, receiver):
    tokens = 40
    create(http, "replicast/echo", {"prompt": " ".join(f"t{i}" for i in range(tokens)),
                                    "delay": 0.05}, receiver.url, ["output", "completed"])
    got = receiver.wait_for(lambda r: any(x.json["status"] == "succeeded" for x in r))
    outputs = got[:-1]
    assert got[-1].json["status"] == "succeeded" and len(got[-1].json["output"]) == tokens
    # About 2 s of tokens: at most one output webhook per 500 ms, plus one at the end of a
    # window; never one per token.
    assert 2 <= len(outputs) <= 6
    gaps = [b.at - a.at for a, b in itertools.pairwise(outputs)]
    assert all(gap >= 0.4 for gap in gaps), gaps
    sizes = [len(r.json["output"]) for r in outputs]
    assert sizes == sorted(sizes) and sizes[-1] < tokens


def test_a_failing_receiver_gets_the_completed_webhook_again_with_the_same_id(
        http, receiver):
    receiver.statuses = [500, 503, 429]
    prediction = create(http, "replicast/echo", {"prompt": "retry"}, receiver.url,
                        ["completed"])
    got = receiver.wait_for(lambda r: len(r) == 4)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    (delivery,) = settled(http, prediction["id"], 1)
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 429, 200]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500", "HTTP 503", "HTTP 429",
                                                        None]


@pytest.mark.parametrize("status,error", [(400, "HTTP 400"),
                                          (302, "HTTP 302: redirects are not followed")])
def test_other_answers_are_not_retried_and_redirects_not_followed(http, receiver, status,
                                                                   error):
    receiver.statuses = [status]
    prediction = create(http, "replicast/echo", {"prompt": "no"}, receiver.url, ["completed"])
    receiver.wait_for(lambda r: len(r) == 1)
    (delivery,) = settled(http, prediction["id"], 1)
    assert delivery["state"] == "failed"
    assert [a["error"] for a in delivery["attempts"]] == [error]
    time.sleep(0.5)
    assert [r.path for r in receiver.received] == ["/hook"]  # never /elsewhere


def test_intermediate_events_are_sent_once(http, receiver):
    receiver.statuses = [500]
    prediction = create(http, "replicast/echo", {"prompt": "x", "delay": 0.1}, receiver.url,
                        ["start", "completed"])
    receiver.wait_for(lambda r: len(r) == 2)
    start, completed = settled(http, prediction["id"], 2)
    assert receiver.events() == ["processing", "succeeded"]
    assert (start["state"], len(start["attempts"])) == ("failed", 1)
    assert completed["state"] == "delivered"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_slow_receiver_delays_neither_predictions_nor_other_deliveries(http, receiver,
                                                                         server):
    slow = Receiver(delay=3.0).start()
    try:
        began = time.monotonic()
        for _ in range(5):
            done = http.post("/v1/models/replicast/echo/predictions", headers={"Prefer": "wait"},
                             json={"input": {"prompt": "x"}, "webhook": slow.url}).json()
            assert done["status"] == "succeeded"
        assert time.monotonic() - began < 2.0
        create(http, "replicast/echo", {"prompt": "fast"}, receiver.url, ["completed"])
        receiver.wait_for(lambda r: len(r) == 1, timeout=2.0)
        # While the slow receiver holds its deliveries, the dispatcher waits quietly.
        cpu_before = cpu_seconds(server.process.pid)
        time.sleep(1.5)
        # (About 0.01 s here; a dispatcher that polls in a loop spends 0.1 s or more.)
        assert cpu_seconds(server.process.pid) - cpu_before < 0.05
    finally:
        slow.stop()


def test_delivery_survives_a_restart(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    server = ServerProcess(tmp_path, env={**FAST_RETRIES, "REPLICAST_WEBHOOK_BACKOFF": "1"})
    server.start()
    with server.client() as http:
        prediction = create(http, "replicast/echo", {"prompt": "later"}, url, ["completed"])
        for _ in range(200):  # the first attempt fails: nothing listens yet
            found = deliveries(http, prediction["id"])
            if found and found[0]["attempts"]:
                break
            time.sleep(0.02)
        assert found[0]["state"] == "pending" and found[0]["attempts"][0]["error"]
    server.stop()
    receiver = Receiver().start(port)
    try:
        server.start()
        (request,) = receiver.wait_for(lambda r: len(r) == 1, timeout=15)
        assert request.json["id"] == prediction["id"]
        assert request.headers["webhook-id"] == found[0]["id"]
        with server.client() as http:
            (delivery,) = settled(http, prediction["id"], 1)
        assert delivery["state"] == "delivered" and len(delivery["attempts"]) >= 2
    finally:
        receiver.stop()
        server.stop()


def test_private_targets_are_refused_by_default(tmp_path, receiver):
    server = ServerProcess(tmp_path).start()  # without REPLICAST_ALLOW_PRIVATE_URLS
    try:
        with server.client() as http:
            for host in ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254"]:
                response = http.post("/v1/models/replicast/echo/predictions", json={
                    "input": {"prompt": "x"}, "webhook": f"http://{host}:{receiver.port}/hook"})
                assert response.status_code == 422, host
                assert response.json()["invalid_fields"][0]["field"] == "webhook"
        time.sleep(0.3)
        assert receiver.received == []
    finally:
        server.stop()


def test_the_python_client_reads_the_secret(server, transport):
    client = replicate.Client(api_token=server.token, base_url=server.base_url,
                              transport=transport)
    assert client.webhooks.default.secret().key.startswith("whsec_")


def _until_finished(http, prediction_id):
    for _ in range(500):
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if body["status"] not in ("starting", "processing"):
            return body
        time.sleep(0.02)
    raise AssertionError(body)



def test_webhook_routes_conform_to_our_schema(http, receiver):
    from tests.support.schemas import conforms

    document = http.get("/openapi.json").json()
    conforms(document, "WebhookSecret", http.get("/v1/webhooks/default/secret").json())
    receiver.statuses = [500]
    prediction = create(http, "replicast/echo", {"prompt": "x"}, receiver.url)
    settled(http, prediction["id"], 2)
    conforms(document, "WebhookDeliveries",
             http.get(f"/v1/predictions/{prediction['id']}/webhooks").json())
