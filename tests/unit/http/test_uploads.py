"""Reading ``POST /v1/files`` bodies, in-process through a minimal app."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from replicast.http.problems import EXCEPTION_HANDLERS
from replicast.http.uploads import file_name, media_type, read_upload

LIMIT = 1000


async def echo(request: Request) -> JSONResponse:
    async with read_upload(request, LIMIT) as upload:
        data = upload.content.read()
    return JSONResponse({"name": upload.name, "type": upload.content_type,
                         "metadata": upload.metadata, "data": data.decode()})


@pytest.fixture
async def client():
    app = Starlette(routes=[Route("/files", echo, methods=["POST"])],
                    exception_handlers=EXCEPTION_HANDLERS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        yield client


async def test_the_parts_and_their_defaults(client):
    response = await client.post("/files", files={"content": ("a.csv", b"1,2", "text/csv")})
    assert response.json() == {"name": "a.csv", "type": "text/csv", "metadata": {},
                               "data": "1,2"}
    blank = await client.post("/files", files={"content": ("a.csv", b"1,2", "text/csv")},
                              data={"type": "", "filename": "", "metadata": ""})
    assert blank.json() == response.json()


async def test_explicit_parts_win_over_the_content_parts_own(client):
    response = await client.post(
        "/files", files={"content": ("a.bin", b"x", "application/zip")},
        data={"filename": "réport.txt", "type": "text/plain; charset=utf-8",
              "metadata": json.dumps({"customer_reference_id": 123})})
    assert response.json() == {"name": "réport.txt", "type": "text/plain; charset=utf-8",
                               "metadata": {"customer_reference_id": 123}, "data": "x"}


async def test_metadata_may_come_as_a_json_file_part_as_the_npm_client_sends_it(client):
    response = await client.post("/files", files=[
        ("content", ("blob_1", b"b", "application/octet-stream")),
        ("metadata", ("blob", b'{"k": [1, 2]}', "application/json")),
    ])
    assert response.json()["metadata"] == {"k": [1, 2]}


async def test_a_content_part_without_a_type_is_octet_stream(client):
    body = (b"--B\r\nContent-Disposition: form-data; name=\"content\"; filename=\"f\"\r\n\r\n"
            b"data\r\n--B--\r\n")
    response = await client.post("/files", content=body,
                                 headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert response.json()["type"] == "application/octet-stream"


@pytest.mark.parametrize("data,field,kind", [
    ({"metadata": "{not json"}, "metadata", "invalid_json"),
    ({"metadata": "[1, 2]"}, "metadata", "invalid_type"),
    # A JSON body's rules: nested at most 64 levels, integers within 64 bits.
    ({"metadata": '{"k": ' + "[" * 300 + "]" * 300 + "}"}, "metadata.k" + ".0" * 63,
     "too_deep"),
    ({"metadata": '{"k": {"seed": -9223372036854775809}}'}, "metadata.k.seed",
     "number_out_of_range"),
    ({"filename": "é" * 128}, "filename", "string_too_long"),
    ({"type": "not a type"}, "type", "format"),
    ({"type": "text/html\r\nX-Evil: 1"}, "type", "format"),
    # Values that could not be sent back as a Content-Type header.
    ({"type": 'text/plain; a="\u2603"'}, "type", "format"),
    ({"type": 'text/plain; a="\x7f"'}, "type", "format"),
])
async def test_bad_parts_are_422_naming_the_field(client, data, field, kind):
    response = await client.post("/files", files={"content": ("a", b"x")}, data=data)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert [(f["field"], f["type"]) for f in problem["invalid_fields"]] == [(field, kind)]


@pytest.mark.parametrize("files,data", [
    ({"other": ("a", b"x")}, {}),
    (None, {"content": "text, not a file part"}),
])
async def test_a_missing_content_part_is_422(client, files, data):
    if files is None:
        files = {"unused": ("u", b"")}
    response = await client.post("/files", files=files, data=data)
    assert response.status_code == 422
    assert response.json()["invalid_fields"][0]["field"] == "content"
    assert response.json()["invalid_fields"][0]["type"] == "required"


@pytest.mark.parametrize("headers,body", [
    ({"Content-Type": "application/json"}, b"{}"),
    ({}, b"raw bytes"),
])
async def test_bodies_that_are_not_multipart_are_415(client, headers, body):
    response = await client.post("/files", content=body, headers=headers)
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


async def test_a_broken_multipart_body_is_400(client):
    response = await client.post("/files", content=b"whatever",
                                 headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 400
    assert "boundary" in response.json()["detail"]


async def test_a_file_over_the_limit_is_413_with_replicates_wording(client):
    response = await client.post("/files", files={"content": ("a", b"x" * (LIMIT + 1))})
    assert response.status_code == 413
    assert response.json()["detail"] == "Files must be less than 1000 bytes in size"
    fits = await client.post("/files", files={"content": ("a", b"x" * LIMIT)})
    assert fits.status_code == 200 and len(fits.json()["data"]) == LIMIT


async def test_a_huge_body_is_cut_off_while_streaming(client):
    sent = 0

    async def stream():
        nonlocal sent
        yield b"--B\r\nContent-Disposition: form-data; name=\"content\"; filename=\"f\"\r\n\r\n"
        for _ in range(10_000):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    response = await client.post("/files", content=stream(),
                                 headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert response.status_code == 413
    assert sent < 2 * 1024 * 1024  # stopped reading long before the 640 MB


async def test_a_declared_length_far_over_the_limit_is_refused_before_reading(client):
    response = await client.post(
        "/files", content=b"", headers={"Content-Type": "multipart/form-data; boundary=B",
                                        "Content-Length": str(10**9)})
    assert response.status_code == 413


@pytest.mark.parametrize("declared,kept", [
    ("image/png", "image/png"),
    (" text/plain; charset=utf-8 ", "text/plain; charset=utf-8"),
    (None, "application/octet-stream"),
    ("", "application/octet-stream"),
    ("not a type", "application/octet-stream"),
    ("text/plain; name=\"é\"", "application/octet-stream"),
])
def test_a_declared_media_type_is_kept_only_when_well_formed(declared, kept):
    assert media_type(declared) == kept


def test_file_names_that_cannot_be_kept():
    assert file_name("photo.png") == "photo.png"
    assert file_name("é" * 127) is not None and file_name("é" * 128) is None
    assert file_name("") is None and file_name(None) is None and file_name("\u202e") is None


def test_file_names_lose_their_hidden_characters():
    assert file_name("a\nb.png") == "ab.png"
    assert file_name("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert file_name("é" * 127 + "\u200b" * 100) == "é" * 127


@pytest.mark.parametrize("parts,name", [
    ({"filename": "invoice\u202egpj.exe"}, "invoicegpj.exe"),
    ({"filename": "a\x00b\u2028c"}, "abc"),
    # Nothing visible left: the content part's own name, as if none had been given.
    ({"filename": "\u202e\u200b"}, "photo.png"),
    ({}, "photo.png"),
])
async def test_uploaded_names_lose_their_hidden_characters(client, parts, name):
    response = await client.post("/files", files={"content": ("\u2066photo\u2069.png", b"x")},
                                 data=parts)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name


async def test_a_name_of_only_hidden_characters_is_file(client):
    response = await client.post("/files", files={"content": ("\u202e", b"x")})
    assert response.json()["name"] == "file"
