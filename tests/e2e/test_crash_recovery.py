"""A server killed (SIGKILL) and started again on its data folder: what was in flight
goes on at once, and what happened is told."""

from __future__ import annotations

import time

import pytest

from tests.support.receiver import Receiver
from tests.support.server import ServerProcess

ENV = {"REPLICAST_ALLOW_PRIVATE_URLS": "1", "REPLICAST_RATE_LIMIT_CREATES": "0",
       "REPLICAST_RATE_LIMIT_REQUESTS": "0"}


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.delay = 0
    receiver.stop()


def test_a_webhook_in_flight_at_a_crash_is_sent_again_at_the_restart(tmp_path, receiver):
    receiver.delay = 3  # the first attempt gets no answer before the crash
    server = ServerProcess(tmp_path, env=ENV).start()
    try:
        with server.client() as http:
            http.post("/v1/models/replicast/echo/predictions", json={
                "input": {"prompt": "hello"}, "webhook": receiver.url,
                "webhook_events_filter": ["completed"]})
        (first,) = receiver.wait_for(lambda r: len(r) == 1)
        server.kill()
        receiver.delay = 0
        restarted = time.monotonic()
        server.start()
        # Not after the claim lapses (the webhook timeout and 30 s more): at once.
        _, again = receiver.wait_for(lambda r: len(r) == 2, timeout=10)
    finally:
        server.stop()
    assert again.at - restarted < 10
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.json["status"] == "succeeded"


def test_a_prediction_interrupted_twice_keeps_both_notes(tmp_path):
    server = ServerProcess(tmp_path, env=ENV).start()
    try:
        with server.client() as http:
            prediction = http.post("/v1/models/replicast/sleep/predictions",
                                   json={"input": {"seconds": 600}}).json()
        path = f"/v1/predictions/{prediction['id']}"
        for _ in range(2):
            with server.client() as http:
                give_up = time.monotonic() + 20
                while http.get(path).json()["status"] != "processing":  # no event to wait on
                    assert time.monotonic() < give_up, "it did not start"
                    time.sleep(0.05)
            server.kill()
            server.start()
        with server.client() as http:
            logs = http.get(path).json()["logs"]
            http.post(f"{path}/cancel")
    finally:
        server.stop()
    notes = [line for line in logs.splitlines() if line.startswith("Replicast stopped")]
    assert notes == [
        f"Replicast stopped while this prediction was running (attempt {n} of 3); it will "
        "run again from the start." for n in (1, 2)]
    assert logs.startswith(f"{notes[0]}\n{notes[1]}\n")
