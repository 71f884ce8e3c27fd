"""Input files that trickle in: their download ends at its deadline, and meanwhile they
hold none of the model's slots, so other accounts' predictions of the model run.

``test/inputs`` runs one prediction at a time. Its ``document`` input points at a
loopback server that sends a byte a second: each read is quick, the whole never ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.trickle import Trickle

PREDICTORS = Path(__file__).parent.parent / "predictors"
MODEL = "/v1/models/test/inputs/predictions"
DEADLINE = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("slow-inputs"),
        env={"REPLICAST_MODELS_FILE": str(PREDICTORS / "models.toml"),
             "REPLICAST_ALLOW_PRIVATE_URLS": "true",
             "REPLICAST_INPUT_FETCH_TIMEOUT": str(DEADLINE),
             "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"},
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as http:
        yield http


@pytest.fixture(scope="module")
def bob(server):
    """Another account."""
    created = subprocess.run(
        [sys.executable, "-m", "replicast", "keys", "create", "--account", "bob"],
        env={**os.environ, "REPLICAST_DATA_DIR": str(server.data_dir)},
        check=True, capture_output=True, text=True).stdout
    token = created.strip().splitlines()[-1]
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


@pytest.fixture
def trickle():
    server = Trickle(interval=1.0, size=1000)
    yield server
    server.close()


def until(http, prediction_id: str, statuses: set[str], timeout: float = 20) -> dict:
    give_up = time.monotonic() + timeout
    while (body := http.get(f"/v1/predictions/{prediction_id}").json())["status"] \
            not in statuses:
        assert time.monotonic() < give_up, body
        time.sleep(0.05)
    return body


def test_slow_downloads_fail_at_their_deadline_while_others_run(http, bob, trickle):
    url = trickle.url("slow.txt")
    slow = [http.post(MODEL, json={"input": {"text": f"slow {n}", "document": url}}).json()
            for n in range(2)]
    for prediction in slow:
        until(http, prediction["id"], {"processing"})  # taken: fetching its file
    # Another account's prediction of the same model runs at once.
    quick = bob.post(MODEL, json={"input": {"text": "quick"}},
                     headers={"Prefer": "wait=10"}).json()
    assert quick["status"] == "succeeded", quick
    assert quick["output"]["text"] == "quick"
    for prediction in slow:
        assert http.get(f"/v1/predictions/{prediction['id']}").json()["status"] \
            == "processing"
    for prediction in slow:
        ended = until(http, prediction["id"], {"succeeded", "failed", "canceled"})
        assert ended["status"] == "failed"
        assert ended["error"] == f"Fetching {url} took longer than {DEADLINE} s"
        assert ended["completed_at"] > quick["completed_at"]
        assert DEADLINE - 0.5 < ended["metrics"]["predict_time"] < DEADLINE + 3
    assert trickle.closed.wait(5)  # the downloads were dropped, not left open
    assert trickle.connections == 2


def test_a_cancel_ends_a_download_at_once(http, trickle):
    created = http.post(MODEL, json={"input": {"text": "c", "document": trickle.url()}})
    prediction = until(http, created.json()["id"], {"processing"})
    assert trickle.connected.wait(10)  # downloading
    began = time.monotonic()
    canceled = http.post(f"/v1/predictions/{prediction['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    assert trickle.closed.wait(5)
    assert time.monotonic() - began < 2
