"""Dynamic batching through a real server: predictions of flux-dev that wait for the device
together share one pipeline call, and each says so in its metrics."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import replicate

from tests.support.flux_e2e import build_weights, file_at
from tests.support.server import TOKEN, ServerProcess

DEV = "black-forest-labs/flux-dev"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("weights"))


def serve(folder, weights, **env: str) -> ServerProcess:
    return ServerProcess(folder, env={"REPLICAST_WEIGHTS_DIR": str(weights),
                                      "REPLICAST_WORKER_MODELS": DEV, **env}).start(timeout=120)


def poll(http: httpx.Client, prediction_id: str, done: Any) -> dict[str, Any]:
    for _ in range(2400):
        current: dict[str, Any] = http.get(f"/v1/predictions/{prediction_id}").json()
        if done(current):
            return current
        time.sleep(0.05)
    raise AssertionError(current)


def while_busy(http: httpx.Client, count: int, *, gathered: bool) -> list[dict[str, Any]]:
    """``count`` predictions of flux-dev, created while another one runs (canceled once
    they wait for the device, when ``gathered``), once they have finished."""
    busy = http.post(f"/v1/models/{DEV}/predictions", json={"input": {
        "prompt": "busy", "num_inference_steps": 50, "aspect_ratio": "16:9"}}).json()
    poll(http, busy["id"], lambda p: "1/50" in p["logs"])
    created = [http.post(f"/v1/models/{DEV}/predictions", json={"input": {
        "prompt": f"boat {n}", "megapixels": "0.25", "num_inference_steps": 2, "seed": n,
        "output_format": "png"}}).json() for n in range(count)]
    if gathered:
        for prediction in created:
            poll(http, prediction["id"], lambda p: "Using seed" in p["logs"])
    assert http.post(f"/v1/predictions/{busy['id']}/cancel").json()["status"] == "canceled"
    return [poll(http, p["id"], lambda p: p["status"] not in ("starting", "processing"))
            for p in created]


def test_predictions_that_wait_together_share_one_call(tmp_path, weights):
    server = serve(tmp_path / "on", weights)
    try:
        with server.client() as http, httpx.HTTPTransport() as transport:
            done = while_busy(http, 3, gathered=True)
            assert [p["status"] for p in done] == ["succeeded"] * 3
            assert [p["metrics"]["batch_size"] for p in done] == [3, 3, 3]
            assert all("Batched with 2 other prediction(s) in one pipeline call" in p["logs"]
                       for p in done)
            assert len({file_at(p["output"][0]) for p in done}) == 3
            client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                      transport=transport)
            assert client.predictions.get(done[0]["id"]).metrics["batch_size"] == 3
            alone = while_busy(http, 1, gathered=True)[0]
            assert alone["metrics"]["batch_size"] == 1
            assert "Batched" not in alone["logs"]
    finally:
        server.stop()


def test_with_batching_off_each_prediction_has_its_own_call(tmp_path, weights):
    server = serve(tmp_path / "off", weights, REPLICAST_BATCHING="false")
    try:
        with server.client() as http:
            done = while_busy(http, 3, gathered=False)
            assert [p["status"] for p in done] == ["succeeded"] * 3
            assert [p["metrics"]["batch_size"] for p in done] == [1, 1, 1]
    finally:
        server.stop()
