"""Output files behind signed, expiring URLs, and data removed after the retention period."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from urllib.parse import urlsplit

import httpx
import pytest

from replicast.server_keys import mac
from tests.support.server import ServerProcess

FLUX = "/v1/models/black-forest-labs/flux-schnell/predictions"


def run(http: httpx.Client, path: str, input: dict) -> dict:
    response = http.post(path, json={"input": input}, headers={"Prefer": "wait"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "succeeded", body
    return body


@pytest.fixture(scope="module")
def short_links(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("links"),
                           env={"REPLICAST_OUTPUT_URL_TTL": "1", "REPLICAST_RETENTION": "0"})
    server.start()
    yield server
    server.stop()


def test_output_files_need_no_token_but_a_valid_signature(short_links):
    with short_links.client() as http:
        body = run(http, FLUX, {"prompt": "a lighthouse", "num_outputs": 2})
    with httpx.Client() as anonymous:
        check_links(anonymous, body["output"])


def check_links(anonymous: httpx.Client, urls: list[str]) -> None:
    for url in urls:
        split = urlsplit(url)
        proof = split.path.split("/")[2]
        expires, signature = proof.split(".")
        assert int(expires) > time.time() and len(signature) == 43
        response = anonymous.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
        assert response.content[:4] == b"RIFF"
        plain = url.replace(f"/{proof}/", "/")
        tampered = url.replace("out-0", "out-1") if "out-0" in url else url.replace(
            "out-1", "out-0")
        forged = url.replace(proof, f"99999999999.{signature}")
        for refused in (plain, tampered, forged, url.replace(signature, signature[::-1])):
            answer = anonymous.get(refused)
            assert answer.status_code == 404, refused
            assert "image" not in answer.headers["content-type"]


def test_a_model_that_echoes_a_files_url_cannot_renew_its_link(short_links):
    with short_links.client() as http:
        body = run(http, FLUX, {"prompt": "a lighthouse"})
        (url,) = body["output"]
        proof = urlsplit(url).path.split("/")[2]
        plain = url.replace(f"/{proof}/", "/")
        echoed = run(http, "/v1/models/replicast/echo/predictions", {"prompt": plain})
    assert echoed["output"] == [plain]  # shown as given, unsigned
    with httpx.Client() as anonymous:
        assert anonymous.get(echoed["output"][0]).status_code == 404


def test_a_link_minted_with_the_key_for_a_far_future_does_not_work(short_links):
    with short_links.client() as http:
        (url,) = run(http, FLUX, {"prompt": "a pier"})["output"]
    # Whoever holds the key (read from the database, say) signs any expiry they like.
    with contextlib.closing(sqlite3.connect(short_links.data_dir / "replicast.db")) as db:
        (key,) = db.execute("SELECT value FROM server_secrets WHERE name = 'output-urls'"
                            ).fetchone()
    proof = urlsplit(url).path.split("/")[2]
    resource = url.split(f"/{proof}/", 1)[1]

    def minted(expires: int) -> str:
        signature = mac(key.encode(), f"{resource}\n{expires}")
        return url.replace(proof, f"{expires}.{signature}")

    with httpx.Client() as anonymous:
        # Within the TTL (1 s here, so at most 2 s ahead) and a minute's allowance: good.
        assert anonymous.get(minted(int(time.time()) + 30)).status_code == 200
        for far in (int(time.time()) + 3600, int(time.time()) + 10 * 365 * 86400):
            assert anonymous.get(minted(far)).status_code == 404, far


def test_an_expired_link_stops_working_and_the_prediction_shows_a_fresh_one(short_links):
    with short_links.client() as http:
        body = run(http, FLUX, {"prompt": "a harbour"})
        (url,) = body["output"]
        expires = int(urlsplit(url).path.split("/")[2].split(".")[0])
        while time.time() <= expires + 0.2:
            time.sleep(0.1)
        assert httpx.get(url).status_code == 404
        (fresh,) = http.get(f"/v1/predictions/{body['id']}").json()["output"]
    assert fresh != url and fresh.split("/")[-3:] == url.split("/")[-3:]
    assert httpx.get(fresh).status_code == 200


def test_data_is_removed_after_retention_even_across_a_restart(tmp_path):
    server = ServerProcess(tmp_path, env={"REPLICAST_RETENTION": "3s"}).start()
    try:
        with server.client() as http:
            before_stop = run(http, FLUX, {"prompt": "a boat", "seed": 1})
            server.stop()  # the data is due while no server runs
            time.sleep(3.5)
            server.start()
            echo = run(http, "/v1/models/replicast/echo/predictions", {"prompt": "private"})
            assert echo["output"] == ["private"]
            for body in (before_stop, echo):
                removed = wait_for_removal(http, body["id"], timeout=15)
                assert removed["output"] is None and removed["input"] == {}
                assert removed["logs"] == ""
                # What is not data stays.
                assert removed["status"] == "succeeded"
                assert removed["completed_at"] == body["completed_at"]
                assert removed["metrics"]["predict_time"] == body["metrics"]["predict_time"]
                assert not (tmp_path / "outputs" / body["id"]).exists()
            for url in before_stop["output"]:
                assert httpx.get(url).status_code == 404
            listed = {p["id"]: p for p in http.get("/v1/predictions").json()["results"]}
            assert listed[echo["id"]]["data_removed"] is True
    finally:
        server.stop()


def wait_for_removal(http: httpx.Client, prediction_id: str, timeout: float) -> dict:
    give_up = time.monotonic() + timeout
    while (body := http.get(f"/v1/predictions/{prediction_id}").json())["data_removed"] is False:
        assert time.monotonic() < give_up, f"data of {prediction_id} still there: {body}"
        time.sleep(0.2)
    return body
