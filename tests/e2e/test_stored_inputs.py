"""Stored inputs are bounded, listings are bounded by bytes, and updates leave a large
input alone: a real server, the official Python client and plain HTTP."""

from __future__ import annotations

import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.support.server import TOKEN, ServerProcess

ECHO = "/v1/models/replicast/echo/predictions"
SLEEP = "/v1/models/replicast/sleep/predictions"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A server whose input limits are small enough to probe at their edges."""
    server = ServerProcess(tmp_path_factory.mktemp("small-inputs"), env={
        "REPLICAST_MAX_INPUT_STRING_BYTES": "1000", "REPLICAST_MAX_INPUT_BYTES": "3000"}).start()
    yield server
    server.stop()


def refused_fields(response) -> dict[str, str]:
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    return {f["field"]: f["type"] for f in response.json()["invalid_fields"]}


def test_inputs_past_the_limits_are_refused_naming_each_field(small, transport):
    with small.client() as http:
        def create(input):
            return http.post(ECHO, json={"input": input})

        assert refused_fields(create({"prompt": "x" * 1001})) == {
            "input.prompt": "string_too_long"}
        # Bytes of UTF-8 count, not characters.
        assert refused_fields(create({"prompt": "é" * 501})) == {
            "input.prompt": "string_too_long"}
        assert refused_fields(create({"prompt": "a", "messages": [
            {"role": "user", "content": "c" * 1200}]})) == {
            "input.messages.0.content": "string_too_long"}
        assert refused_fields(create({"prompt": "b", "parts": ["p" * 900] * 4})) == {
            "input": "input_too_large"}
        response = create({"prompt": "x" * 1001, "parts": ["p" * 900] * 4})
        assert refused_fields(response) == {"input.prompt": "string_too_long",
                                            "input": "input_too_large"}
        assert "1000 bytes" in response.json()["detail"]
        # Nothing of those was kept; at the limits, an input is.
        assert http.get("/v1/predictions").json()["results"] == []
        assert create({"prompt": "x" * 1000}).status_code == 201
        assert create({"prompt": "é" * 500, "parts": ["p" * 900]}).status_code == 201
        assert len(http.get("/v1/predictions").json()["results"]) == 2

    client = replicate.Client(api_token=TOKEN, base_url=small.base_url, transport=transport)
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create("replicast/echo", input={"prompt": "y" * 2000})
    assert caught.value.status == 422 and "input.prompt" in caught.value.detail


def test_the_default_limits_refuse_a_15_mb_string(server, http):
    response = http.post(ECHO, json={"input": {"prompt": "x" * 15_000_000}})
    assert refused_fields(response) == {"input.prompt": "string_too_long",
                                        "input": "input_too_large"}
    assert "4194304 bytes" in response.text and "8388608 bytes" in response.text
    # A long text well within them is kept whole.
    long = "word " * 600_000  # 3 MB
    created = http.post(SLEEP, headers={"Prefer": "wait"},
                        json={"input": {"seconds": 0, "context": long}})
    assert created.status_code == 201 and created.json()["status"] == "succeeded"
    assert http.get(created.json()["urls"]["get"]).json()["input"]["context"] == long


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    """A server whose pages of predictions end past 200 kB."""
    server = ServerProcess(tmp_path_factory.mktemp("paged"),
                           env={"REPLICAST_MAX_PAGE_BYTES": "200000"}).start()
    yield server
    server.stop()


def test_a_page_ends_early_once_its_rows_pass_the_byte_limit_and_cursors_stay_exact(
        paged, transport):
    created = []
    with paged.client() as http:
        for index in range(7):
            response = http.post(SLEEP, headers={"Prefer": "wait"}, json={"input": {
                "seconds": 0, "padding": f"{index}" * 60_000}})
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        newest_first = created[::-1]

        bodies, sizes = [], []
        url = "/v1/predictions"
        while url:
            response = http.get(url)
            sizes.append(len(response.content))
            bodies.append(response.json())
            url = bodies[-1]["next"]
        pages = [[p["id"] for p in body["results"]] for body in bodies]
        # Three 60 kB inputs fill a page; each prediction is on exactly one page.
        assert [len(page) for page in pages] == [3, 3, 1], sizes
        assert [i for page in pages for i in page] == newest_first
        assert max(sizes) < 200_000
        back = []
        url = bodies[-1]["previous"]
        while url:
            body = http.get(url).json()
            back.append([p["id"] for p in body["results"]])
            url = body["previous"]
        assert back == pages[-2::-1]

    client = replicate.Client(api_token=TOKEN, base_url=paged.base_url, transport=transport)
    listed = [p.id for page in replicate.paginate(client.predictions.list) for p in page]
    assert listed == newest_first


def test_status_and_log_updates_do_not_write_a_large_input_again(server, http):
    wal = server.data_dir / "replicast.db-wal"
    before = wal.stat().st_size
    padding = "x" * (2 * MiB)
    response = http.post(SLEEP, headers={"Prefer": "wait"},
                         json={"input": {"seconds": 3, "padding": padding}})
    body = response.json()
    assert body["status"] == "succeeded" and body["logs"].count("\n") >= 4, body["logs"]
    # The insert writes the input once; the start, four log writes and the end must not
    # write it again (each did, with the input in the prediction's row: 14 MiB).
    assert wal.stat().st_size - before < 3 * MiB
