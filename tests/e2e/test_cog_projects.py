"""Cog projects served as Cog serves them: the project's root as working folder and import
root, ``cog.yaml``'s ``environment:``, Cog's settings, the request's context, metric names
and the model's description.

Each predictor under ``tests/predictors`` is written as a Cog user writes it; the server is
a real process, driven by the official client and by plain HTTP where the client has no
word for it (``context``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from replicate.exceptions import ModelError

from tests.support.server import ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"
PROJECT = PREDICTORS / "cog_project"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("cog-projects"),
        env={"COG_SETUP_TIMEOUT": "300"},  # cog.yaml's own value wins over the server's
        args=[arg for reference, name in [
            (PROJECT, "test/project"),
            (PREDICTORS / "cog_slow_setup", "test/slow-setup"),
            (f"{PREDICTORS / 'cog_scope.py'}:Context", "test/context"),
            (f"{PREDICTORS / 'cog_scope.py'}:Metrics", "test/metrics"),
        ] for arg in ("--predictor", str(reference), "--model-name", name)],
    ).start(timeout=60)
    yield process
    process.stop()


def test_a_predictor_in_a_sub_folder_runs_from_the_project_root(client):
    output = client.run("test/project", input={"name": "cog"})
    assert output["shout"] == "COG!"  # mylib.py is at the root, predict.py in my-subdir/
    assert output["cwd"] == str(PROJECT.resolve())
    assert output["weights"] == "weights"  # ./weights of the project, as /src/weights


def test_the_predictor_sees_cog_yaml_environment(client):
    output = client.run("test/project", input={})
    assert output["greeting"] == "hello from cog.yaml"
    assert output["empty"] == ""
    assert output["with_equals"] == "a=b"
    assert output["setup_timeout"] == "45"


def test_cog_setup_timeout_from_cog_yaml_bounds_the_setup(http):
    give_up = time.monotonic() + 30
    while (setup := http.get("/v1/models/test/slow-setup").json()["setup"])["status"] \
            == "starting" and time.monotonic() < give_up:
        time.sleep(0.1)
    assert setup["status"] == "failed"
    assert setup["error"] == "Setup did not finish within 1 seconds"
    assert setup["completed_at"] is not None


def test_the_request_context_reaches_current_scope(http):
    response = http.post("/v1/models/test/context/predictions",
                         json={"input": {"key": "user"}, "context": {"user": "ada", "x": ""}},
                         headers={"Prefer": "wait=30"})
    assert response.status_code == 201, response.text
    prediction = response.json()
    assert prediction["status"] == "succeeded", prediction
    assert prediction["output"] == {"type": "dict", "context": {"user": "ada", "x": ""},
                                    "value": "ada", "same": True}
    assert "context" not in prediction  # the API shows no context, as it shows no secret


def test_without_a_context_the_scope_has_an_empty_one(client):
    assert client.run("test/context", input={}) == {
        "type": "dict", "context": {}, "value": None, "same": True}


def test_a_context_that_is_not_strings_is_refused(http):
    for context in ({"n": 1}, ["a"], "text", {"k": "v" * 5000}):
        response = http.post("/v1/models/test/context/predictions",
                             json={"input": {}, "context": context})
        assert response.status_code == 422, (context, response.text)


def test_the_description_is_never_cogs_own_base_class_docstring(http):
    assert http.get("/v1/models/test/context").json()["description"] == ""


def test_metrics_with_cogs_names_are_recorded(client):
    prediction = client.predictions.create(model="test/metrics", input={"name": "tokens"})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.metrics["tokens"] == 1.5
    assert prediction.metrics["timing"] == {"decode": 0.25}
    assert prediction.metrics["predict_time"] > 0


@pytest.mark.parametrize(("name", "error"), [
    ("predict_time", "ValueError: 'predict_time' is reserved by the runtime"),
    ("cog.gpu", "ValueError: the 'cog.' prefix is reserved for system metrics"),
    ("bad name", "ValueError: metric name segment 'bad name' contains invalid character ' '"),
    ("a..b", "ValueError: metric name must not contain empty segments (consecutive dots)"),
    ("1st", "ValueError: metric name segment '1st' must start with a letter"),
    ("a.b.c.d.e", "ValueError: metric name must have at most 4 dot-separated segments (got 5)"),
])
def test_a_metric_name_cog_refuses_fails_the_prediction(client, name, error):
    with pytest.raises(ModelError) as failed:
        client.run("test/metrics", input={"name": name, "value": 7})
    prediction = failed.value.prediction
    assert prediction.status == "failed"
    assert prediction.error == error
    assert prediction.metrics.get("predict_time") != 7
