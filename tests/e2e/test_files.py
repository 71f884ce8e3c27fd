"""The Files API against a real server: the official Python client, signed downloads,
accounts kept apart, limits, expiry, and uploaded files as prediction inputs.

The server is not allowed to fetch private URLs, so a prediction that reads an
uploaded file at ``http://127.0.0.1:<port>/v1/files/...`` proves that the file was
read from the store and not over HTTP.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import replicate
from openapi_spec_validator import validate as validate_spec
from replicate.exceptions import ReplicateError

from replicast import times
from tests.support.schemas import REPLICATE, conforms
from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"
LIMIT = 100 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("files"),
        env={"REPLICAST_MAX_FILE_BYTES": str(LIMIT)},
        args=["--predictor", str(PREDICTORS / "inputs.py:Predictor"),
              "--model-name", "test/inputs"],
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def bob_token(server):
    """A token of a second account, made as an operator makes one."""
    created = subprocess.run(
        [sys.executable, "-m", "replicast", "keys", "create", "--account", "bob"],
        env={**os.environ, "REPLICAST_DATA_DIR": str(server.data_dir)},
        check=True, capture_output=True, text=True).stdout
    return created.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def bob(server, bob_token):
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {bob_token}"}) as http:
        yield http


@pytest.fixture(scope="module")
def anonymous(server):
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


def upload(http, data: bytes, name: str = "notes.txt", kind: str = "text/plain",
           prefix: str = "/v1", **fields: str) -> dict:
    response = http.post(f"{prefix}/files", files={"content": (name, data, kind)}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()


def wait_until_done(http, prediction: dict, timeout: float = 30) -> dict:
    give_up = time.monotonic() + timeout
    while prediction["status"] not in {"succeeded", "failed", "canceled"}:
        assert time.monotonic() < give_up, prediction
        time.sleep(0.05)
        prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
    return prediction


def test_the_python_client_creates_gets_lists_and_deletes_files(client, server, http,
                                                                tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"first line\nsecond line\n")
    created = client.files.create(path, metadata={"customer_reference_id": 123})
    assert created.name == "notes.txt" and created.content_type == "text/plain"
    assert created.size == 23
    assert created.checksums == {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                 "md5": hashlib.md5(path.read_bytes()).hexdigest()}
    assert created.etag == created.checksums["md5"]
    assert created.metadata == {"customer_reference_id": 123}
    assert created.urls["get"] == f"{server.base_url}/v1/files/{created.id}"
    lifetime = (times.parse_rfc3339(created.expires_at)
                - times.parse_rfc3339(created.created_at))
    assert lifetime == timedelta(hours=24)

    assert client.files.get(created.id) == created
    raw = http.get(f"/v1/files/{created.id}").json()
    conforms(REPLICATE, "schemas_file_response", raw)
    with path.open("rb") as handle:
        other = client.files.create(handle)
    assert [f.id for f in client.files.list()][:2] == [other.id, created.id]

    assert client.files.delete(created.id) is True
    with pytest.raises(ReplicateError) as caught:
        client.files.get(created.id)
    assert caught.value.status == 404 and caught.value.detail == "File not found"
    assert created.id not in [f.id for f in client.files.list()]
    assert not (server.data_dir / "files" / created.id).exists()
    with pytest.raises(ReplicateError) as caught:
        client.files.delete(created.id)
    assert caught.value.status == 404


def test_an_open_file_given_as_input_is_uploaded_and_read_by_the_model(client, server,
                                                                       tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("uploaded by the client")
    with path.open("rb") as handle:
        prediction = client.predictions.create(
            model="test/inputs", input={"text": "t", "document": handle})
    assert prediction.input["document"].startswith(f"{server.base_url}/v1/files/")
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output["document"]["text"] == "uploaded by the client"
    assert prediction.output["document"]["name"] == "input.txt"  # as uploaded, not its id
    with path.open("rb") as handle:
        output = client.run("test/inputs", input={"text": "t", "blob": handle})
    assert output["blob"] == "uploaded by the client"


def test_the_server_would_not_have_fetched_its_own_address_over_http(http, server):
    """The control for the test above: only uploaded files are read locally."""
    response = http.post("/v1/models/test/inputs/predictions", json={"input": {
        "text": "t", "document": f"{server.base_url}/openapi.json"}})
    done = wait_until_done(http, response.json())
    assert done["status"] == "failed" and "not a public address" in done["error"]


def test_the_replicate_prefix_serves_the_same_files(http, server):
    created = upload(http, b"via the other prefix", prefix="/replicate/v1")
    assert created["urls"]["get"] == f"{server.base_url}/replicate/v1/files/{created['id']}"
    assert http.get(f"/replicate/v1/files/{created['id']}").json()["urls"] == created["urls"]
    # Asked under /v1, the same file names /v1.
    assert http.get(f"/v1/files/{created['id']}").json()["urls"]["get"] == \
        f"{server.base_url}/v1/files/{created['id']}"
    response = http.post("/v1/models/test/inputs/predictions", json={"input": {
        "text": "t",
        "document": f"{server.base_url}/replicate/v1/files/{created['id']}/download"}})
    done = wait_until_done(http, response.json())
    assert done["output"]["document"]["text"] == "via the other prefix", done["error"]


def test_a_client_on_the_replicate_prefix_gets_file_urls_under_it(server, anonymous,
                                                                  transport, tmp_path):
    # The client adds /v1/... to its base URL: the base is the server's /replicate.
    own = replicate.Client(api_token=TOKEN, base_url=f"{server.base_url}/replicate",
                           transport=transport)
    api = f"{server.base_url}/replicate/v1"
    path = tmp_path / "notes.txt"
    path.write_bytes(b"uploaded under /replicate")
    created = own.files.create(path)
    assert created.urls["get"] == f"{api}/files/{created.id}"
    assert created.urls["download"].startswith(f"{api}/files/{created.id}/download?")
    assert own.files.get(created.id).urls["get"] == created.urls["get"]
    assert all(f.urls["get"].startswith(f"{api}/files/") for f in own.files.list())
    downloaded = anonymous.get(created.urls["download"])
    assert downloaded.status_code == 200 and downloaded.content == b"uploaded under /replicate"

    # An open file as input: the client uploads it and puts its urls.get in the input.
    with path.open("rb") as handle:
        prediction = own.predictions.create(
            model="test/inputs", input={"text": "t", "document": handle})
    assert prediction.input["document"].startswith(f"{api}/files/")
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output["document"]["text"] == "uploaded under /replicate"


def signed_parts(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_a_signed_download_needs_no_token_and_serves_the_bytes_safely(http, anonymous,
                                                                       server):
    data = b"<script>alert(1)</script>"
    created = upload(http, data, name="page.html", kind="text/html",
                     filename='../my "report" \u00e9.html')
    assert created["name"] == '../my "report" \u00e9.html'
    path, query = signed_parts(created["urls"]["download"])
    assert path == f"/v1/files/{created['id']}/download"
    assert query["owner"] == "replicast"
    assert query["expiry"] == str(int(times.parse_rfc3339(created["expires_at"]).timestamp()))

    response = anonymous.get(created["urls"]["download"])
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "text/html"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert 'filename="my _report_ _.html"' in disposition
    assert "filename*=UTF-8''my%20%22report%22%20%C3%A9.html" in disposition

    with_token = http.get(f"/v1/files/{created['id']}/download")
    assert with_token.status_code == 200 and with_token.content == data
    assert anonymous.get(f"/v1/files/{created['id']}/download").status_code == 401


def test_names_cannot_disguise_themselves_with_hidden_characters(http, anonymous):
    """U+202E would show ``invoice\u202egpj.exe`` as ``invoiceexe.jpg``: names keep only
    what is shown, in the file and in the name its download is saved under."""
    spoofed = upload(http, b"MZ", filename="invoice\u202egpj.exe")
    hidden = upload(http, b"x", name="\u200bphoto\u2066.png\u2069\ufeff")
    assert (spoofed["name"], hidden["name"]) == ("invoicegpj.exe", "photo.png")
    assert http.get(spoofed["urls"]["get"]).json()["name"] == "invoicegpj.exe"
    disposition = anonymous.get(spoofed["urls"]["download"]).headers["content-disposition"]
    assert disposition == "attachment; filename=\"invoicegpj.exe\"; " \
                          "filename*=UTF-8''invoicegpj.exe"


@pytest.mark.parametrize("change", ["signature", "owner", "expiry", "id", "missing"])
def test_a_tampered_signed_download_is_not_found(http, anonymous, change):
    created = upload(http, b"guarded")
    _, query = signed_parts(created["urls"]["download"])
    file_id = created["id"]
    if change == "signature":
        flipped = "A" if query["signature"][0] != "A" else "B"
        query["signature"] = flipped + query["signature"][1:]
    elif change == "owner":
        query["owner"] = "bob"
    elif change == "expiry":
        query["expiry"] = str(int(query["expiry"]) + 1)
    elif change == "id":
        file_id = upload(http, b"another")["id"]
    else:
        del query["signature"]
    response = anonymous.get(f"/v1/files/{file_id}/download?{urlencode(query)}")
    assert response.status_code == 404
    assert response.json()["detail"] == "File not found"


def test_another_account_gets_404_everywhere(http, bob, server):
    alices = upload(http, b"alice's secret")
    file_id = alices["id"]
    assert bob.get(f"/v1/files/{file_id}").status_code == 404
    assert bob.get(f"/v1/files/{file_id}/download").status_code == 404
    assert bob.delete(f"/v1/files/{file_id}").status_code == 404
    assert file_id not in [f["id"] for f in bob.get("/v1/files").json()["results"]]
    assert http.get(f"/v1/files/{file_id}").status_code == 200  # still there for alice

    response = bob.post("/v1/models/test/inputs/predictions", json={"input": {
        "text": "t", "document": alices["urls"]["get"]}})
    done = wait_until_done(bob, response.json())
    assert done["status"] == "failed"
    assert done["error"] == f"Cannot read the input file {alices['urls']['get']}: file not found"
    # Bob's own files work for him.
    bobs = upload(bob, b"bob's own")
    assert bobs["urls"]["download"].count("owner=bob") == 1
    response = bob.post("/v1/models/test/inputs/predictions", json={"input": {
        "text": "t", "document": bobs["urls"]["get"]}})
    assert wait_until_done(bob, response.json())["output"]["document"]["text"] == "bob's own"


def test_an_upload_over_the_limit_is_413(http, client, tmp_path):
    response = http.post("/v1/files", files={"content": ("big.bin", b"x" * (LIMIT + 1))})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Files must be less than 100KB in size"
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * (10 * LIMIT))
    with pytest.raises(ReplicateError) as caught:
        client.files.create(big)
    assert caught.value.status == 413
    assert upload(http, b"z" * LIMIT)["size"] == LIMIT


def test_bad_uploads_are_refused_with_problems(http):
    not_multipart = http.post("/v1/files", json={"content": "x"})
    assert not_multipart.status_code == 415
    no_content = http.post("/v1/files", files={"file": ("a.txt", b"x")})
    assert no_content.status_code == 422
    assert no_content.json()["invalid_fields"][0]["field"] == "content"
    bad_metadata = http.post("/v1/files", files={"content": ("a.txt", b"x")},
                             data={"metadata": "{oops"})
    assert bad_metadata.status_code == 422
    assert bad_metadata.json()["invalid_fields"][0]["field"] == "metadata"
    long_name = http.post("/v1/files", files={"content": ("a.txt", b"x")},
                          data={"filename": "n" * 256})
    assert long_name.status_code == 422
    assert http.post("/v1/files", headers={"Authorization": "Bearer r8_wrong"},
                     files={"content": ("a.txt", b"x")}).status_code == 401


@pytest.mark.parametrize("metadata,field,kind", [
    # Past the body's depth limit, and past what the store's JSON encoder can write.
    ('{"a":' * 300 + "1" + "}" * 300, "metadata" + ".a" * 64, "too_deep"),
    ('{"a":' * 65 + "1" + "}" * 65, "metadata" + ".a" * 64, "too_deep"),
    ('{"seed": 18446744073709551616}', "metadata.seed", "number_out_of_range"),
])
def test_metadata_follows_the_rules_of_a_json_body(http, metadata, field, kind):
    """Metadata a store cannot keep as sent is a 422 naming where, not a 500."""
    refused = http.post("/v1/files", files={"content": ("a.txt", b"x")},
                        data={"metadata": metadata})
    assert refused.status_code == 422, refused.text
    assert [(f["field"], f["type"]) for f in refused.json()["invalid_fields"]] == [(field, kind)]
    kept = http.post("/v1/files", files={"content": ("a.txt", b"x")},
                     data={"metadata": '{"a":' * 63 + "1" + "}" * 63})
    assert kept.status_code == 201 and http.get(kept.json()["urls"]["get"]).status_code == 200


def test_our_openapi_document_describes_the_file_routes(http):
    document = http.get("/openapi.json").json()
    validate_spec(document)
    paths = document["paths"]
    for prefix in ("/v1", "/replicate/v1"):
        assert set(paths[f"{prefix}/files"]) == {"get", "post"}
        assert set(paths[f"{prefix}/files/{{file_id}}"]) == {"get", "delete"}
        assert set(paths[f"{prefix}/files/{{file_id}}/download"]) == {"get"}
    created = upload(http, b"described")
    conforms(document, "File", created)
    conforms(document, "FilePage", http.get("/v1/files").json())


def test_files_expire_and_are_swept(tmp_path):
    server = ServerProcess(tmp_path, env={"REPLICAST_FILE_RETENTION": "2s",
                                          "REPLICAST_RETENTION": "10s"}).start()
    try:
        with server.client() as http, httpx.Client(base_url=server.base_url) as anonymous:
            created = upload(http, b"short-lived")
            lifetime = (times.parse_rfc3339(created["expires_at"])
                        - times.parse_rfc3339(created["created_at"]))
            assert lifetime == timedelta(seconds=2)
            assert http.get(f"/v1/files/{created['id']}").status_code == 200
            assert anonymous.get(created["urls"]["download"]).status_code == 200
            blob = tmp_path / "files" / created["id"]
            assert blob.exists()
            expires = times.parse_rfc3339(created["expires_at"])
            while times.now() < expires:
                time.sleep(0.05)
            assert http.get(f"/v1/files/{created['id']}").status_code == 404
            assert http.get(f"/v1/files/{created['id']}/download").status_code == 404
            assert anonymous.get(created["urls"]["download"]).status_code == 404
            assert http.get("/v1/files").json()["results"] == []
            # The retention sweep (every second here) deletes the bytes too.
            give_up = time.monotonic() + 10
            while blob.exists():
                assert time.monotonic() < give_up, "the expired file was not swept"
                time.sleep(0.05)
    finally:
        server.stop()
