"""What a server facing the internet must refuse: fetches into private networks,
another account's data, and tokens showing up in logs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.listener import Listener
from tests.support.server import TOKEN, ServerProcess

KONTEXT = "/v1/models/black-forest-labs/flux-kontext-pro/predictions"


@pytest.fixture
def listeners():
    pair = Listener("127.0.0.1"), Listener("::1")
    yield pair
    for listener in pair:
        listener.close()


def finish(http: httpx.Client, prediction_id: str) -> dict:
    give_up = time.monotonic() + 30
    while (body := http.get(f"/v1/predictions/{prediction_id}").json())["status"] in (
            "starting", "processing"):
        assert time.monotonic() < give_up, body
        time.sleep(0.05)
    return body


def test_input_urls_never_reach_private_addresses(tmp_path, listeners):
    v4, v6 = listeners
    hostname = socket.gethostname()
    resolved = {info[4][0] for info in socket.getaddrinfo(hostname, None)}
    assert resolved and all(not address.startswith(("8.", "1.")) for address in resolved)
    targets = [
        f"http://127.0.0.1:{v4.port}/a.png",
        f"http://localhost:{v4.port}/a.png",
        f"http://[::1]:{v6.port}/a.png",
        f"http://[::ffff:127.0.0.1]:{v4.port}/a.png",
        f"http://{hostname}:{v4.port}/a.png",  # a name that resolves to this machine
        f"http://2130706433:{v4.port}/a.png",  # 127.0.0.1 spelt as a number
        f"http://0.0.0.0:{v4.port}/a.png",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.1/a.png",
        "http://192.168.0.1/a.png",
    ]
    server = ServerProcess(tmp_path).start()
    try:
        with server.client() as http:
            created = [http.post(KONTEXT, json={"input": {"prompt": "x", "input_image": url}})
                       for url in targets]
            for url, response in zip(targets, created, strict=True):
                assert response.status_code == 201, response.text
                body = finish(http, response.json()["id"])
                assert body["status"] == "failed", url
                assert "Refused to fetch" in body["error"], (url, body["error"])
    finally:
        server.stop()
    assert (v4.connections, v6.connections) == (0, 0)

    # The same fetches do reach the listeners when private addresses are allowed: the
    # refusals above are the guard's doing, not an unreachable listener's.
    allowed = ServerProcess(tmp_path / "allowed",
                            env={"REPLICAST_ALLOW_PRIVATE_URLS": "true"}).start()
    try:
        with allowed.client() as http:
            for url in targets[:3]:
                response = http.post(KONTEXT, json={"input": {"prompt": "x", "input_image": url}})
                assert finish(http, response.json()["id"])["status"] == "succeeded", url
    finally:
        allowed.stop()
    assert v4.connections == 2 and v6.connections == 1


def test_another_accounts_predictions_are_not_found(tmp_path):
    server = ServerProcess(tmp_path).start()
    try:
        env = {**os.environ, "REPLICAST_DATA_DIR": str(tmp_path)}
        created = subprocess.run([sys.executable, "-m", "replicast", "keys", "create",
                                  "--account", "mallory"], env=env, check=True,
                                 capture_output=True, text=True).stdout
        mallory = {"Authorization": f"Bearer {created.strip().splitlines()[-1]}"}
        with server.client() as http:
            own = http.post("/v1/models/replicast/sleep/predictions",
                            json={"input": {"seconds": 5}}).json()
            with httpx.Client(base_url=server.base_url, headers=mallory) as other:
                for method, path in [
                        ("GET", f"/v1/predictions/{own['id']}"),
                        ("GET", f"/replicate/v1/predictions/{own['id']}"),
                        ("POST", f"/v1/predictions/{own['id']}/cancel"),
                        ("GET", f"/v1/predictions/{own['id']}/webhooks")]:
                    response = other.request(method, path)
                    assert response.status_code == 404, (method, path)
                    assert own["id"] not in response.text
                assert other.get("/v1/predictions").json()["results"] == []
                # The same answer as for an id that does not exist at all.
                unknown = other.get("/v1/predictions/" + "x" * 26)
                assert unknown.json() == other.get(f"/v1/predictions/{own['id']}").json()
            # Mallory's cancel did nothing.
            assert http.get(f"/v1/predictions/{own['id']}").json()["status"] in (
                "starting", "processing")
            http.post(f"/v1/predictions/{own['id']}/cancel")
    finally:
        server.stop()


def test_tokens_never_reach_the_logs(tmp_path):
    server = ServerProcess(tmp_path, env={"REPLICAST_ACCESS_LOG": "true",
                                          "REPLICAST_LOG_LEVEL": "debug"}).start()
    wrong = "r8_" + "W" * 37
    try:
        for token in (TOKEN, wrong):
            for scheme in ("Bearer", "Token"):
                headers = {"Authorization": f"{scheme} {token}"}
                httpx.get(f"{server.base_url}/v1/predictions", headers=headers)
                httpx.post(f"{server.base_url}/v1/models/replicast/echo/predictions",
                           json={"input": {"prompt": "hello"}}, headers=headers)
                httpx.get(f"{server.base_url}/v1/predictions?token={token}", headers=headers)
        # Tokens of other shapes that clients put in query strings, under other names.
        queried = ["operator-chosen-secret-1", "sk-live-0123456789", "eyJhbGciOi.eyJzdWIi.Sf"]
        for name, value in zip(("token", "api_key", "access_token"), queried, strict=True):
            httpx.get(f"{server.base_url}/v1/predictions?limit=1&{name}={value}",
                      headers={"Authorization": f"Bearer {TOKEN}"})
        httpx.get(f"{server.base_url}/login?next=%2Fp%2Fx%3Fapi_token%3Dfrom-a-next-url")
        # URLs that are secrets themselves: a signed download, an output, a stream.
        with server.client() as http:
            upload = http.post("/v1/files", files={"content": ("a.txt", b"hi", "text/plain")})
            download = upload.json()["urls"]["download"]
            made = http.post("/v1/models/black-forest-labs/flux-schnell/predictions",
                             json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"}).json()
        secrets = [download.split("signature=")[1], made["output"][0].split("/")[4],
                   made["urls"]["stream"].rsplit("/", 1)[1]]
        for url in (download, made["output"][0], made["urls"]["stream"]):
            assert httpx.get(url).status_code == 200, url
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "/download?owner=" in log and "GET /outputs/" in log  # they were logged
    for secret in secrets:
        assert secret not in log
        assert secret.split(".")[-1] not in log
    assert re.search(r"GET /v1/predictions", log), "the access log was not written"
    assert TOKEN not in log and wrong not in log
    assert TOKEN[3:] not in log and wrong[3:] not in log
    assert "?limit=1&api_key=[redacted]" in log
    for secret in [*queried, "from-a-next-url"]:
        assert secret not in log


def test_input_files_over_the_limit_fail_with_a_clear_error(tmp_path, listeners):
    v4, _ = listeners
    server = ServerProcess(tmp_path, env={"REPLICAST_MAX_INPUT_FILE_BYTES": "50",
                                          "REPLICAST_ALLOW_PRIVATE_URLS": "true"}).start()
    try:
        with server.client() as http:
            for url in ["data:image/png;base64," + "A" * 400,
                        f"http://127.0.0.1:{v4.port}/big.png"]:
                response = http.post(KONTEXT, json={"input": {"prompt": "x",
                                                              "input_image": url}})
                body = finish(http, response.json()["id"])
                assert body["status"] == "failed"
                assert "larger than 50 bytes" in body["error"], body["error"]
    finally:
        server.stop()
    assert v4.connections == 1
