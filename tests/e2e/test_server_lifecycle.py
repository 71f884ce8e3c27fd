"""Starting, stopping and crashing real server processes: nothing is lost or stuck."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.support.server import TOKEN, ServerProcess


def wait_for(http: httpx.Client, prediction_id: str, check, timeout: float = 15.0) -> dict:
    give_up = time.monotonic() + timeout
    while True:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if check(body):
            return body
        assert time.monotonic() < give_up, f"gave up waiting: {body}"
        time.sleep(0.05)


def test_a_restart_keeps_every_prediction_and_resumes_unfinished_ones(tmp_path):
    server = ServerProcess(tmp_path).start()
    with server.client() as http:
        done = http.post("/v1/models/replicast/echo/predictions",
                         json={"input": {"prompt": "kept"}}, headers={"Prefer": "wait"}).json()
        running = http.post("/v1/models/replicast/sleep/predictions",
                            json={"input": {"seconds": 1.5}}).json()
        wait_for(http, running["id"], lambda p: p["status"] == "processing")
        server.kill()  # no chance to clean up

        server.start()
        assert http.get(f"/v1/predictions/{done['id']}").json() == done
        resumed = wait_for(http, running["id"], lambda p: p["status"] not in
                           {"starting", "processing"})
        assert resumed["status"] == "succeeded", resumed
        assert resumed["output"] == "Slept for 1.5 seconds"
        assert resumed["logs"].startswith("Replicast stopped while this prediction was running")
    server.stop()


def test_sigterm_puts_running_work_back_and_it_finishes_after_restart(tmp_path):
    server = ServerProcess(tmp_path, env={"REPLICAST_SHUTDOWN_GRACE": "0.2"}).start()
    with server.client() as http:
        long = http.post("/v1/models/replicast/sleep/predictions",
                         json={"input": {"seconds": 2}}).json()
        wait_for(http, long["id"], lambda p: p["status"] == "processing")
        # uvicorn finishes shutting down, then ends by the signal it caught.
        assert server.stop() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.output
        server.start()
        finished = wait_for(http, long["id"], lambda p: p["status"] == "succeeded")
        assert "it will run again" in finished["logs"]
    server.stop()


def test_first_start_prints_a_token_once_and_keys_can_be_managed(tmp_path):
    server = ServerProcess(tmp_path, token=None).start()
    token = re.search(r"REPLICATE_API_TOKEN=(r8_\w+)", server.output).group(1)
    assert len(token) == 40
    account = httpx.get(f"{server.base_url}/v1/account",
                        headers={"Authorization": f"Token {token}"})
    assert account.json() == {"type": "user", "username": "replicast", "name": "replicast"}
    server.stop()
    server.start()
    assert server.output.count("REPLICATE_API_TOKEN=") == 1

    env = {**os.environ, "REPLICAST_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "replicast", *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    created = cli("keys", "create", "--account", "bob", "--label", "ci")
    bob_token = created.strip().splitlines()[-1]
    key_id = re.search(r"Created key (\w+)", created).group(1)
    listing = cli("keys", "list")
    assert key_id in listing and "bob" in listing and bob_token not in listing
    headers = {"Authorization": f"Bearer {bob_token}"}
    assert httpx.get(f"{server.base_url}/v1/account", headers=headers).json()["username"] == "bob"
    # Bob cannot see the other account's predictions.
    own = httpx.post(f"{server.base_url}/v1/models/replicast/echo/predictions",
                     json={"input": {"prompt": "mine"}},
                     headers={"Authorization": f"Bearer {token}"}).json()
    assert httpx.get(f"{server.base_url}/v1/predictions/{own['id']}",
                     headers=headers).status_code == 404
    assert httpx.get(f"{server.base_url}/v1/predictions", headers=headers).json()["results"] == []
    cli("keys", "revoke", key_id)
    revoked_at = time.monotonic()
    # The server notices a revocation by another process within a quarter second.
    while (refused := httpx.get(f"{server.base_url}/v1/account", headers=headers)) \
            .status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "a revoked token kept working"
        time.sleep(0.02)
    assert refused.status_code == 401
    assert "revoked" in cli("keys", "list")
    assert refused.headers["content-type"] == "application/problem+json"
    server.stop()


def test_a_second_server_on_the_same_data_folder_is_refused(tmp_path):
    first = ServerProcess(tmp_path).start()
    try:
        second = ServerProcess(tmp_path)
        try:
            second.start(timeout=15)
            raise AssertionError("the second server started")
        except RuntimeError as exc:
            assert "Another Replicast process is already using" in str(exc)
    finally:
        first.stop()


def test_the_token_is_required_everywhere_but_streams_and_files(tmp_path):
    server = ServerProcess(tmp_path, token=TOKEN).start()
    try:
        for method, path in [("GET", "/v1/predictions"), ("POST", "/v1/predictions"),
                             ("GET", "/v1/models"), ("GET", "/replicate/v1/account"),
                             ("GET", "/v1/predictions/abc"),
                             ("POST", "/v1/models/replicast/echo/predictions")]:
            response = httpx.request(method, f"{server.base_url}{path}")
            assert response.status_code == 401, path
            assert response.json() == {"title": "Unauthenticated", "status": 401,
                                       "detail": "You did not pass an authentication token"}
    finally:
        server.stop()


def test_public_url_builds_every_url(tmp_path):
    public = "https://replicast.example.com/base"
    server = ServerProcess(tmp_path, env={"REPLICAST_PUBLIC_URL": public}).start()
    try:
        with server.client() as http:
            body = http.post("/v1/models/black-forest-labs/flux-schnell/predictions",
                             json={"input": {"prompt": "p", "megapixels": "0.25"}},
                             headers={"Prefer": "wait"}).json()
        assert body["urls"]["get"] == f"{public}/v1/predictions/{body['id']}"
        assert all(url.startswith(public) for url in body["urls"].values())
        assert body["output"][0].startswith(f"{public}/outputs/")
        assert f"/{body['id']}/" in body["output"][0]
        # The file is served under the same path on the server itself.
        local = body["output"][0].replace(public, server.base_url)
        assert httpx.get(local).headers["content-type"] == "image/webp"
    finally:
        server.stop()


def test_cancel_after_cancels_a_running_prediction_at_its_deadline(tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as http:
            created = http.post("/v1/models/replicast/sleep/predictions",
                                json={"input": {"seconds": 60}},
                                headers={"Cancel-After": "5s"}).json()
            assert created["deadline"] > created["created_at"]
            done = wait_for(http, created["id"], lambda p: p["status"] == "canceled",
                            timeout=10)
        assert 4.5 <= done["metrics"]["total_time"] < 7
        assert "Cancel-After deadline" in done["logs"]
        bad = httpx.post(f"{server.base_url}/v1/models/replicast/sleep/predictions",
                         json={"input": {}}, headers={"Cancel-After": "2s",
                                                      "Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 422
        assert bad.json()["invalid_fields"][0]["field"] == "Cancel-After"
    finally:
        server.stop()


def test_open_streams_do_not_hold_up_a_shutdown(tmp_path):
    import threading

    server = ServerProcess(tmp_path, env={"REPLICAST_SHUTDOWN_GRACE": "0.5"}).start()
    with server.client() as http:
        running = http.post("/v1/models/replicast/sleep/predictions",
                            json={"input": {"seconds": 60}}).json()
    ended = threading.Event()

    def follow() -> None:
        try:
            with httpx.stream("GET", running["urls"]["stream"], timeout=60) as response:
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError:
            pass
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.5)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 5
    assert ended.wait(5)
