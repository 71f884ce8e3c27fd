"""A real server whose data folder is on a small disk that the tests fill up: answers
that say so, readiness that sees it, nothing left half-written, nothing lost.

The disk is a tmpfs mounted for the test (root only). The server's log is kept
elsewhere, so that it can still say what happens.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.disk import SmallDisk, small_disk
from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parents[1] / "predictors"
NO_LIMITS = {"REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"}
ECHO = "/v1/models/replicast/echo/predictions"


@pytest.fixture
def disk(tmp_path):
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def server_on(disk: SmallDisk, logs: Path, **kwargs) -> ServerProcess:
    server = ServerProcess(disk.path / "data", env=NO_LIMITS, **kwargs)
    server.log_path = logs / "server.log"  # off the full disk
    return server


class Connection:
    """One keep-alive HTTP/1.1 connection, read by hand: it must not be replaced."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)

    def request(self, method: str, path: str, body: dict | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        payload = b"" if body is None else orjson.dumps(body)
        self.socket.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            .encode() + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
        while len(rest) < int(headers["content-length"]):
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-body")
            rest += chunk
        return int(status_line.split()[1]), headers, rest

    def close(self) -> None:
        self.socket.close()


def until(check, timeout: float, what: str):
    """Poll ``check`` (no event tells of these) until it returns something true."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def test_a_full_disk_is_a_507_on_an_open_connection_and_readiness_sees_it(disk, tmp_path):
    server = server_on(disk, tmp_path).start()
    try:
        with server.client() as http:
            first = http.post(ECHO, json={"input": {"prompt": "before"}},
                              headers={"Prefer": "wait"}).json()
            assert first["status"] == "succeeded"
            disk.fill()
            connection = Connection(server.port)
            try:
                for _ in range(200):  # the WAL may hold a few more before it must grow
                    status, headers, body = connection.request(
                        "POST", ECHO, {"input": {"prompt": "on a full disk"}})
                    if status != 201:
                        break
                assert status == 507, body
                problem = orjson.loads(body)
                assert problem["title"] == "Insufficient storage"
                assert "disk is full" in problem["detail"]
                assert headers["retry-after"] == "30"
                # The same connection answers the next request.
                status, _, body = connection.request("GET", f"/v1/predictions/{first['id']}")
                assert status == 200 and orjson.loads(body)["output"] == ["before"]
            finally:
                connection.close()
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            assert "is full" in ready.json()["problems"]["store"]

            disk.free()
            until(lambda: http.get("/health/ready").status_code == 200, 15,
                  "readiness did not come back once the disk had room")
            after = http.post(ECHO, json={"input": {"prompt": "after"}},
                              headers={"Prefer": "wait"}).json()
            assert after["status"] == "succeeded" and after["output"] == ["after"]
    finally:
        server.stop()
    log = server.output
    assert log.count("the store is failing") == 1, log
    assert log.count("the store works again") == 1, log
    assert "Traceback" not in log


def test_outputs_saved_before_the_disk_filled_are_removed(disk, tmp_path):
    server = server_on(disk, tmp_path, args=[
        "--predictor", f"{PREDICTORS}/disk.py:BigFiles", "--model-name", "test/big-files"])
    server.start(timeout=60)
    try:
        with server.client() as http:
            disk.fill(leave=5 << 20)  # room for two of the three files of 2 MiB
            prediction = http.post("/v1/models/test/big-files/predictions",
                                   json={"input": {"count": 3, "megabytes": 2}},
                                   headers={"Prefer": "wait=50"}).json()
            prediction = until(
                lambda: (p := http.get(f"/v1/predictions/{prediction['id']}").json())
                ["status"] not in ("starting", "processing") and p, 30, "it did not end")
    finally:
        server.stop()
    assert prediction["status"] == "failed"
    assert prediction["error"] == ("Replicast's disk is full: the output file part-2.bin "
                                   "could not be saved")
    left = sorted(p.name for p in (disk.path / "data" / "outputs").rglob("*") if p.is_file())
    assert left == []


def test_a_start_on_a_full_disk_says_so_in_one_line(disk, tmp_path):
    used = server_on(disk, tmp_path)
    used.start()
    used.stop()
    disk.fill()
    for data in (disk.path / "data", disk.path / "fresh"):  # a database, and none yet
        server = ServerProcess(data)
        server.log_path = tmp_path / f"{data.name}.log"
        with pytest.raises(RuntimeError, match="server exited") as failed:
            server.start()
        output = str(failed.value)
        assert f"the disk under {data} is full" in output, output
        assert "Traceback" not in output


def test_a_run_that_ends_while_the_disk_is_full_is_recorded_once_there_is_room(
        disk, tmp_path):
    server = server_on(disk, tmp_path).start()
    try:
        with server.client() as http:
            prediction = http.post("/v1/models/replicast/sleep/predictions",
                                   json={"input": {"seconds": 2}}).json()
            until(lambda: http.get(f"/v1/predictions/{prediction['id']}").json()["status"]
                  == "processing", 10, "it did not start")
            disk.fill()
            # The model runs to its end, which no write can record now.
            with httpx.stream("GET", prediction["urls"]["stream"], timeout=30,
                              headers={"Accept": "text/event-stream"}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: ") and "100%" in line:
                        break
            assert http.get(f"/v1/predictions/{prediction['id']}").json()["status"] \
                == "processing"
            disk.free()
            done = until(
                lambda: (p := http.get(f"/v1/predictions/{prediction['id']}").json())
                ["status"] != "processing" and p, 15, "its outcome was not recorded")
    finally:
        server.stop()
    assert done["status"] == "succeeded" and done["output"] == "Slept for 2 seconds"
    assert done["logs"].count("100%") == 1 and "stopped" not in done["logs"]  # ran once
    assert 1.9 < done["metrics"]["predict_time"] < 3  # when it ended, not when it was written
