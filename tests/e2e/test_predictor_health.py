"""A predictor's own ``healthcheck()``, called by a real server as Cog calls it.

The predictors are in ``tests/predictors/health.py``; the server checks them every
0.2 s with a 0.5 s timeout. The two that can recover fail their check while a file of
their name is in the module's flag folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess

HEALTH = Path(__file__).parent.parent / "predictors" / "health.py"
MODELS = {"test/flagged": "Predictor", "test/async-flagged": "AsyncPredictor",
          "test/false": "ReturnsFalse", "test/raises": "Raises", "test/hangs": "Hangs",
          "test/async-hangs": "AsyncHangs", "test/plain": "NoHealthcheck"}
FLAGS = {"test/flagged": "sync", "test/async-flagged": "async"}


@pytest.fixture(scope="module")
def flags(tmp_path_factory):
    return tmp_path_factory.mktemp("flags")


@pytest.fixture(scope="module")
def server(tmp_path_factory, flags):
    args = []
    for name, cls in MODELS.items():
        args += ["--predictor", f"{HEALTH}:{cls}", "--model-name", name]
    process = ServerProcess(
        tmp_path_factory.mktemp("health"),
        env={"HEALTH_FLAGS": str(flags),
             "REPLICAST_PREDICTOR_HEALTHCHECK_INTERVAL": "0.2",
             "REPLICAST_PREDICTOR_HEALTHCHECK_TIMEOUT": "0.5"},
        args=args,
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def healed(flags):
    """Every model is healthy again after each test."""
    yield
    for path in flags.iterdir():
        path.unlink()


def make_unhealthy(flags: Path, name: str) -> None:
    (flags / FLAGS[name]).touch()


def make_healthy(flags: Path, name: str) -> None:
    (flags / FLAGS[name]).unlink(missing_ok=True)


def health(http, name: str) -> dict | None:
    response = http.get(f"/v1/models/{name}")
    assert response.status_code == 200, response.text
    return response.json()["setup"]["health"]


def wait_for_health(http, name: str, status: str, *, after: str = "",
                    timeout: float = 30) -> dict:
    """The model's health once a check made after ``after`` (a ``checked_at``) has
    found ``status``."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        found = health(http, name)
        if found is not None and found["status"] == status \
                and (found["checked_at"] or "") > after:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{name} is not {status}: {health(http, name)}")


def gauges(http) -> dict[str, float]:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    return {sample.labels["model"]: sample.value
            for family in text_string_to_metric_families(response.text)
            if family.name == "replicast_model_healthy" for sample in family.samples}


def test_unhealthy_shows_in_the_model_readiness_and_metrics_with_why(http, flags):
    wait_for_health(http, "test/flagged", "healthy")
    assert gauges(http)["test/flagged"] == 1
    assert "test/flagged" not in http.get("/health/ready").json().get("unhealthy", {})

    make_unhealthy(flags, "test/flagged")
    found = wait_for_health(http, "test/flagged", "unhealthy")
    why = "Healthcheck failed: user-defined healthcheck returned False"
    assert found["error"] == why and found["checked_at"].endswith("Z")
    ready = http.get("/health/ready")
    # The process stays ready: the model's predictions still queue, the rest is served.
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert ready.json()["unhealthy"]["test/flagged"] == why
    assert gauges(http)["test/flagged"] == 0

    make_healthy(flags, "test/flagged")
    found = wait_for_health(http, "test/flagged", "healthy")
    assert found["error"] is None
    assert "test/flagged" not in http.get("/health/ready").json().get("unhealthy", {})
    assert gauges(http)["test/flagged"] == 1


@pytest.mark.parametrize(("name", "output"), [("test/flagged", "echo queued"),
                                              ("test/async-flagged", "async echo queued")])
def test_a_prediction_made_while_unhealthy_stays_queued_and_runs_once_healthy(
        client, http, flags, name, output):
    make_unhealthy(flags, name)
    failing = wait_for_health(http, name, "unhealthy")
    prediction = client.predictions.create(model=name, input={"text": "queued"})
    assert prediction.status == "starting"
    # Two more checks have failed since: it was not taken off the queue meanwhile.
    seen = wait_for_health(http, name, "unhealthy", after=failing["checked_at"])
    wait_for_health(http, name, "unhealthy", after=seen["checked_at"])
    prediction.reload()
    assert prediction.status == "starting" and prediction.started_at is None

    make_healthy(flags, name)
    prediction.wait()
    assert prediction.status == "succeeded", (prediction.error, prediction.logs)
    assert prediction.output == output


@pytest.mark.parametrize(("name", "why"), [
    ("test/false", "Healthcheck failed: user-defined healthcheck returned False"),
    ("test/raises", "Healthcheck failed: OSError: the disk is gone"),
    ("test/hangs", "Healthcheck failed: user-defined healthcheck timed out after 0.5 seconds"),
    ("test/async-hangs",
     "Healthcheck failed: user-defined healthcheck timed out after 0.5 seconds"),
])
def test_each_way_to_fail_is_reported_in_cogs_words(http, name, why):
    found = wait_for_health(http, name, "unhealthy")
    assert found["error"] == why
    assert http.get("/health/ready").json()["unhealthy"][name] == why
    assert gauges(http)[name] == 0


def test_an_async_healthcheck_that_raises_is_reported_and_recovers(http, flags):
    make_unhealthy(flags, "test/async-flagged")
    found = wait_for_health(http, "test/async-flagged", "unhealthy")
    assert found["error"] == "Healthcheck failed: RuntimeError: the async check says no"
    make_healthy(flags, "test/async-flagged")
    wait_for_health(http, "test/async-flagged", "healthy", after=found["checked_at"])


def test_a_predictor_without_healthcheck_is_always_healthy(client, http):
    assert health(http, "test/plain") == {"status": "healthy", "error": None,
                                          "checked_at": None}
    assert gauges(http)["test/plain"] == 1
    assert "test/plain" not in http.get("/health/ready").json().get("unhealthy", {})
    assert client.run("test/plain", input={"text": "x"}) == "plain x"


def test_a_healthy_predictor_runs_predictions_between_checks(client, http):
    wait_for_health(http, "test/flagged", "healthy")
    for number in range(5):
        assert client.run("test/flagged", input={"text": str(number)}) == f"echo {number}"
