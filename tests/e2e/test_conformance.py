"""Responses checked against Replicate's published OpenAPI schemas and against our own."""

from __future__ import annotations

import time

import pytest
from openapi_spec_validator import validate as validate_spec

from tests.support.schemas import REPLICATE, conforms


@pytest.fixture(scope="module")
def ours(http):
    document = http.get("/openapi.json").json()
    validate_spec(document)
    return document


@pytest.fixture(scope="module")
def predictions_in_every_status(http):
    def create(model: str, input: dict, **headers: str) -> dict:
        response = http.post(f"/v1/models/{model}/predictions", json={"input": input},
                             headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def until(prediction: dict, status: str) -> dict:
        for _ in range(400):
            current = http.get(f"/v1/predictions/{prediction['id']}").json()
            if current["status"] == status:
                return current
            time.sleep(0.025)
        raise AssertionError(current)

    found = {"starting": create("replicast/echo", {"prompt": "s", "delay": 0})}
    sleeping = create("replicast/sleep", {"seconds": 30}, **{"Cancel-After": "5m"})
    found["processing"] = until(sleeping, "processing")
    found["canceled"] = http.post(f"/v1/predictions/{sleeping['id']}/cancel").json()
    found["succeeded"] = create("black-forest-labs/flux-schnell",
                                {"prompt": "p", "megapixels": "0.25"}, Prefer="wait")
    found["failed"] = create("replicast/fail", {}, Prefer="wait")
    found["kontext"] = create("black-forest-labs/flux-kontext-pro", {"prompt": "p"},
                              Prefer="wait")
    found["timed_out_wait"] = create("replicast/sleep", {"seconds": 2}, Prefer="wait=1")
    aborted = create("replicast/sleep", {"seconds": 0.1}, **{"Cancel-After": "5s"})
    found["webhook"] = http.post("/v1/models/replicast/echo/predictions", json={
        "input": {"prompt": "w"}, "webhook": "https://example.com/hook",
        "webhook_events_filter": ["completed"]}).json()
    assert aborted["deadline"]
    return found


@pytest.mark.parametrize("status", ["starting", "processing", "canceled", "succeeded", "failed",
                                    "kontext", "timed_out_wait", "webhook"])
def test_predictions_conform_to_replicates_schema_and_ours(predictions_in_every_status, ours,
                                                           status):
    prediction = predictions_in_every_status[status]
    conforms(REPLICATE, "schemas_prediction_response", prediction)
    conforms(ours, "Prediction", prediction)


def test_prediction_fields_follow_replicates_formats(predictions_in_every_status, server):
    done = predictions_in_every_status["succeeded"]
    assert done["status"] == "succeeded" and done["version"] == "hidden"
    assert done["model"] == "black-forest-labs/flux-schnell" and done["source"] == "api"
    assert set(done["metrics"]) == {"predict_time", "total_time", "image_count"}
    assert done["metrics"]["image_count"] == 1
    for key in ("created_at", "started_at", "completed_at"):
        assert done[key].endswith("Z") and len(done[key]) == 27
    assert done["urls"] == {
        "get": f"{server.base_url}/v1/predictions/{done['id']}",
        "cancel": f"{server.base_url}/v1/predictions/{done['id']}/cancel",
        "stream": done["urls"]["stream"],
        "web": f"{server.base_url}/p/{done['id']}",
    }
    assert done["id"] not in done["urls"]["stream"]
    starting = predictions_in_every_status["starting"]
    assert "started_at" not in starting and "metrics" not in starting
    assert starting["output"] is None and starting["logs"] == ""
    kontext = predictions_in_every_status["kontext"]
    assert isinstance(kontext["output"], str) and kontext["output"].endswith("/out-0.png")
    waited = predictions_in_every_status["timed_out_wait"]
    assert waited["status"] == "starting" and waited["output"] is None
    hooked = predictions_in_every_status["webhook"]
    assert hooked["webhook_events_filter"] == ["completed"]


def test_lists_models_versions_and_account_conform(http, ours):
    page = http.get("/v1/predictions").json()
    conforms(REPLICATE, "schemas_paginated_prediction_response", page)
    conforms(ours, "PredictionPage", page)
    models = http.get("/v1/models").json()
    conforms(REPLICATE, "schemas_paginated_model_response", models)
    conforms(ours, "ModelPage", models)
    model = http.get("/v1/models/black-forest-labs/flux-dev").json()
    conforms(REPLICATE, "schemas_model_response", model)
    conforms(ours, "Model", model)
    assert model["is_official"] is True and model["latest_version"]["id"]
    version_path = f"/v1/models/black-forest-labs/flux-dev/versions/{model['latest_version']['id']}"
    version = http.get(version_path).json()
    conforms(REPLICATE, "schemas_version_response", version)
    assert version == model["latest_version"]
    account = http.get("/v1/account").json()
    conforms(ours, "Account", account)
    assert http.get("/v1/models/black-forest-labs/flux-dev/versions/nope").status_code == 404
    assert http.get("/v1/models/nobody/nothing").status_code == 404


def test_problems_conform_to_our_schema(http, ours):
    for response in (http.get("/v1/predictions/nope"),
                     http.post("/v1/predictions", json={"version": "x", "input": {}}),
                     http.post("/v1/models/replicast/echo/predictions", json={"input": {}}),
                     http.post("/v1/models/replicast/echo/predictions", content=b"{")):
        assert response.headers["content-type"] == "application/problem+json"
        conforms(ours, "Problem", response.json())
