"""A few bytes of request cannot make the server write gigabytes: each distinct input
file is fetched and stored once, and the number and size of a prediction's input files
are capped.

``test/many`` takes a ``list[Path]`` and reports how many files it got, how many distinct
ones, and how many bytes the server's temporary folder (``TMPDIR``, one of the test's
own) holds while it runs.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"
MODEL = "/v1/models/test/many/predictions"
SIZE = 600 * 1000
TOTAL = 1024 * 1024  # room for one file of SIZE, not two


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    (folder / "tmp").mkdir()
    process = ServerProcess(
        folder / "data",
        env={"TMPDIR": str(folder / "tmp"), "REPLICAST_ALLOW_PRIVATE_URLS": "true",
             "REPLICAST_MAX_INPUT_TOTAL_BYTES": str(TOTAL),
             "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"},
        args=["--predictor", str(PREDICTORS / "inputs.py:Many"), "--model-name", "test/many"],
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as http:
        yield http


@pytest.fixture(scope="module")
def web():
    """Files on loopback (input URLs), counting the requests for each."""
    requests: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests[self.path] = requests.get(self.path, 0) + 1
            body = bytes(SIZE)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def upload(http, name: str) -> str:
    response = http.post("/v1/files", files={"content": (name, bytes(SIZE),
                                                         "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()["urls"]["get"]


def run(http, documents: list[str]) -> dict:
    response = http.post(MODEL, json={"input": {"documents": documents}},
                         headers={"Prefer": "wait=30"})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_uploaded_file_named_a_hundred_times_is_stored_once(http):
    prediction = run(http, [upload(http, "one.bin")] * 100)
    assert prediction["status"] == "succeeded", prediction["error"]
    output = prediction["output"]
    assert (output["count"], output["distinct"]) == (100, 1)
    # One copy (the predictor's own name for it is a link to the same bytes).
    assert SIZE <= output["temporary_bytes"] < 2 * SIZE


def test_a_url_named_a_hundred_times_is_downloaded_once(http, web):
    base, requests = web
    prediction = run(http, [f"{base}/many.bin"] * 100)
    assert prediction["status"] == "succeeded", prediction["error"]
    assert prediction["output"]["distinct"] == 1
    assert SIZE <= prediction["output"]["temporary_bytes"] < 2 * SIZE
    assert requests["/many.bin"] == 1


def test_more_files_than_the_limit_is_a_422_naming_the_input(http):
    before = http.get("/v1/predictions").json()["results"]
    response = http.post(MODEL, json={"input": {"documents": ["data:,x"] * 101}})
    assert response.status_code == 422, response.text
    problem = response.json()
    (field,) = problem["invalid_fields"]
    assert field["field"] == "input.documents"
    assert field["description"] == ("The input names 101 files; at most 100 may be given "
                                    "to one prediction")
    assert http.get("/v1/predictions").json()["results"] == before  # nothing was made


def test_uploaded_files_larger_in_all_than_the_limit_are_a_422(http):
    urls = [upload(http, "first.bin"), upload(http, "second.bin")]
    response = http.post(MODEL, json={"input": {"documents": urls}})
    assert response.status_code == 422, response.text
    (field,) = response.json()["invalid_fields"]
    assert field["field"] == "input.documents"
    assert field["description"] == f"The input files are larger than {TOTAL} bytes in all"


def test_downloads_larger_in_all_than_the_limit_fail_the_prediction(http, web):
    base, requests = web
    prediction = run(http, [f"{base}/first.bin", f"{base}/second.bin", f"{base}/third.bin"])
    assert prediction["status"] == "failed"
    assert prediction["error"] == f"The input files are larger than {TOTAL} bytes in all"
    assert "/third.bin" not in requests  # it stopped at the file past the limit
