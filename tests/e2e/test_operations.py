"""What operators see of a running server: health, metrics, JSON logs, the commands."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from replicast.cli import main
from tests.support import services
from tests.support.server import TOKEN, ServerProcess, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("operations"),
                            env={"REPLICAST_LOG_FORMAT": "json",
                                 "REPLICAST_ALLOW_PRIVATE_URLS": "true",
                                 "REPLICAST_WEBHOOK_BACKOFF": "60"}).start()
    yield process
    process.stop()


def test_health_needs_no_token(server):
    with server.client() as http:
        http.headers.pop("Authorization")
        assert http.get("/health/live").json() == {"status": "ok"}
        assert http.get("/health/ready").json() == {"status": "ok"}


def test_metrics_count_what_happened(server, http):
    for _ in range(3):
        http.post("/v1/models/replicast/echo/predictions", json={"input": {"prompt": "a b"}},
                  headers={"Prefer": "wait"})
    http.post("/v1/models/replicast/fail/predictions", json={"input": {"message": "no"}},
              headers={"Prefer": "wait"})
    response = http.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text)
               for s in family.samples}
    assert samples[("replicast_predictions",
                    (("model", "replicast/echo"), ("status", "succeeded")))] >= 3
    assert samples[("replicast_predictions_finished_total",
                    (("model", "replicast/fail"), ("status", "failed")))] >= 1
    assert samples[("replicast_prediction_wait_seconds_count",
                    (("model", "replicast/echo"),))] >= 3
    assert ("replicast_queue_depth", (("model", "replicast/echo"),)) not in samples or \
        samples[("replicast_queue_depth", (("model", "replicast/echo"),))] == 0
    assert any(name == "replicast_worker_heartbeat_age_seconds" for name, _ in samples)


METRICS_TOKEN = "prometheus-scrapes-with-this-token-0123456789"


@pytest.fixture
def guarded_metrics(tmp_path):
    """An API process and a worker whose /metrics need a token of their own."""
    database = asyncio.run(services.create_database())
    asyncio.run(services.empty_redis())  # no address locked out by an earlier test
    env = {"REPLICAST_DATABASE_URL": database, "REPLICAST_BROKER_URL": services.redis_url(),
           "REPLICAST_METRICS_TOKEN": METRICS_TOKEN}
    processes = [ServerProcess(tmp_path, env=env, args=["--no-worker"], log_name="api.log"),
                 ServerProcess(tmp_path, env=env, command="worker", log_name="worker.log")]
    started = []
    try:
        for process in processes:
            started.append(process.start(timeout=60))
        yield processes
    finally:
        for process in started:
            process.stop()
        asyncio.run(services.drop_database(database))


def test_metrics_may_need_a_token_of_their_own(guarded_metrics):
    for process in guarded_metrics:
        with httpx.Client(base_url=process.base_url, timeout=30) as http:
            for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"},
                            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
                            {"Authorization": f"Bearer {TOKEN}"},  # the API's is not it
                            {"Authorization": METRICS_TOKEN}):
                refused = http.get("/metrics", headers=headers)
                assert refused.status_code == 401, (process.command, headers)
                assert refused.headers["content-type"] == "application/problem+json"
                assert METRICS_TOKEN not in refused.text
            scraped = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert scraped.status_code == 200, process.command
            names = {family.name for family in text_string_to_metric_families(scraped.text)}
            assert "replicast_queue_depth" in names
            # Probes still need nothing.
            assert http.get("/health/live").status_code == 200
    api, _ = guarded_metrics
    with api.client() as http:
        assert http.get("/v1/account").status_code == 200  # the API's token works as ever


def test_json_logs_carry_the_prediction_id(server, http):
    unreachable = f"http://127.0.0.1:{free_port()}/hook"
    created = http.post("/v1/models/replicast/echo/predictions",
                        json={"input": {"prompt": "x"}, "webhook": unreachable,
                              "webhook_events_filter": ["completed"]},
                        headers={"Prefer": "wait"}).json()
    give_up = time.monotonic() + 15
    while time.monotonic() < give_up:
        lines = [orjson.loads(line) for line in server.output.splitlines()
                 if line.startswith("{")]
        about = [line for line in lines if line.get("prediction_id") == created["id"]]
        if about:
            break
        time.sleep(0.1)
    assert about, "no log line about the prediction"
    assert "attempt 1" in about[0]["message"] and about[0]["level"] == "info"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_db_upgrade_on_a_fresh_database(tmp_path, capsys, monkeypatch):
    database = asyncio.run(services.create_database())
    monkeypatch.setenv("REPLICAST_DATABASE_URL", database)
    try:
        assert main(["--data-dir", str(tmp_path), "db", "upgrade"]) == 0
        assert capsys.readouterr().out == (
            "Applied: 0001_initial, 0002_files, 0003_retention, 0004_unfinished_by_account,"
            " 0005_upstream_id, 0006_web_sessions, 0007_webhook_claims,"
            " 0008_prediction_inputs, 0009_previews, 0010_api_prefix, 0011_queue,"
            " 0012_key_expiry, 0013_counts\n")
        assert main(["--data-dir", str(tmp_path), "db", "upgrade"]) == 0
        assert capsys.readouterr().out == "The database is up to date.\n"
    finally:
        asyncio.run(services.drop_database(database))


def test_a_worker_needs_a_shared_store_and_broker(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REPLICAST_DATABASE_URL", raising=False)
    monkeypatch.delenv("REPLICAST_BROKER_URL", raising=False)
    assert main(["--data-dir", str(tmp_path), "worker"]) == 2
    assert "REPLICAST_DATABASE_URL=postgresql://" in capsys.readouterr().err
