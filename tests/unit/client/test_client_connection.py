"""The client's HTTP: base URLs, cursors, and refusals as one line each."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from replicast.client.connection import ClientError, Connection, api_base, remote


@pytest.mark.parametrize(("server", "base"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
    ("https://h/replicate", "https://h/replicate/v1"),
    ("https://h/replicate/v1/", "https://h/replicate/v1"),
])
def test_the_server_root_and_the_replicate_prefix_both_work(server, base):
    assert api_base(server) == base


def test_a_server_that_is_not_a_url_is_refused():
    with pytest.raises(ClientError, match="must start with http"):
        api_base("127.0.0.1:8000")


def test_flags_win_over_the_official_clients_variables():
    env = {"REPLICATE_BASE_URL": "http://env", "REPLICATE_API_TOKEN": "r8_env"}
    assert remote(None, None, env) == ("http://env", "r8_env")
    assert remote("http://flag", "r8_flag", env) == ("http://flag", "r8_flag")
    assert remote(None, None, {"REPLICATE_BASE_URL": ""}) == (None, None)


def connection(handler, token="r8_token"):
    return Connection("http://server", token, transport=httpx.MockTransport(handler))


def problem(status, detail, **extra):
    def handler(request):
        return httpx.Response(status, json={"title": "t", "detail": detail, "status": status},
                              headers=extra.get("headers"))
    return handler


@pytest.mark.parametrize(("handler", "token", "words"), [
    (problem(401, "You did not pass an authentication token"), None,
     ["needs an API token", "REPLICATE_API_TOKEN", "--token"]),
    (problem(401, "You did not pass a valid authentication token"), "r8_bad",
     ["refused the API token", "REPLICATE_API_TOKEN"]),
    (problem(404, "The requested resource could not be found."), "r8",
     ["Prediction p1 was not found on http://server"]),
    (problem(429, "Request was throttled.", headers={"Retry-After": "7"}), "r8",
     ["retry in 7 s"]),
    (problem(429, "You have 3 predictions starting or processing; the limit is 3."), "r8",
     ["the limit is 3"]),
    (problem(500, "boom"), "r8", ["answered 500: boom"]),
    (lambda request: httpx.Response(200, text="<html>"), "r8", ["not a JSON object"]),
])
def test_refusals_become_one_line_saying_what_to_do(handler, token, words):
    with connection(handler, token) as client, pytest.raises(ClientError) as caught:
        client.prediction("p1")
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_input_errors_list_every_field():
    def handler(request):
        return httpx.Response(422, json={"title": "Input validation failed", "status": 422,
                                         "detail": "...", "invalid_fields": [
            {"type": "required", "field": "input.prompt", "description": "prompt is required"},
            {"type": "invalid_type", "field": "input.seed",
             "description": "Invalid type. Expected: integer, given: string"}]})

    with connection(handler) as client, pytest.raises(ClientError) as caught:
        client.create("a/b", None, {"seed": "x"})
    assert str(caught.value) == ("http://server refused the request: input.prompt: prompt is "
                                 "required; input.seed: Invalid type. Expected: integer, "
                                 "given: string")


def test_an_unreachable_server_is_named():
    def handler(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with connection(handler) as client, pytest.raises(ClientError) as caught:
        client.model_schema("a", "b")
    assert str(caught.value).startswith("Cannot reach a server at http://server: connection "
                                        "refused")


def test_listing_follows_the_cursor_until_the_limit():
    pages = {
        "/v1/predictions": {"results": [{"id": "a"}, {"id": "b"}],
                            "next": "http://server/v1/predictions?cursor=2"},
        "/v1/predictions?cursor=2": {"results": [{"id": "c"}, {"id": "d"}],
                                     "next": "http://server/v1/predictions?cursor=3"},
        "/v1/predictions?cursor=3": {"results": [{"id": "e"}], "next": None},
    }
    asked = []

    def handler(request):
        asked.append(request.url.raw_path.decode())
        assert request.headers["Authorization"] == "Bearer r8_token"
        return httpx.Response(200, json=pages[asked[-1]])

    with connection(handler) as client:
        assert [p["id"] for p in client.predictions(3)] == ["a", "b", "c"]
        assert len(asked) == 2
        assert [p["id"] for p in client.predictions(100)] == ["a", "b", "c", "d", "e"]


def test_output_files_and_streams_are_fetched_without_the_token(tmp_path):
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, content=b"bytes")

    with connection(handler) as client, (tmp_path / "f").open("wb") as handle:
        client.download("http://elsewhere/outputs/1.s/p/r/f", handle)
    assert seen == [None]
    assert (tmp_path / "f").read_bytes() == b"bytes"


def test_uploads_send_the_file_as_multipart_content(tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(b"\x89PNG")
    bodies = []

    def handler(request):
        bodies.append((request.url.path, request.headers["Content-Type"], request.read()))
        return httpx.Response(201, json={"urls": {"get": "http://server/v1/files/f1"}})

    with connection(handler) as client:
        assert client.upload(image) == "http://server/v1/files/f1"
    path, kind, body = bodies[0]
    assert path == "/v1/files" and kind.startswith("multipart/form-data")
    assert b'name="content"; filename="in.png"' in body
    assert b"Content-Type: image/png" in body and b"\x89PNG" in body


def test_a_download_cut_short_of_its_content_length_fails(tmp_path):
    # A server that promises 100 bytes, sends 10 and hangs up.
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]

    def serve() -> None:
        connection, _ = listening.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with Connection(f"http://127.0.0.1:{port}", None) as connection, \
                (tmp_path / "out.bin").open("wb") as handle, \
                pytest.raises(ClientError, match="Cannot download"):
            connection.download(f"http://127.0.0.1:{port}/outputs/a.bin", handle)
    finally:
        thread.join(5)
        listening.close()
