"""An error no handler takes is a 500 problem, and the keep-alive connection it came on
stays open for the client's next request."""

from __future__ import annotations

import socket

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from replicast.app import create_app
from replicast.config import Settings
from tests.support.threaded import threaded_server


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length; raises if the connection ends first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-body")
        body += chunk
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_an_unexpected_error_is_a_500_and_the_connection_stays_open(tmp_path, http):
    app = create_app(Settings(data_dir=tmp_path), announce=lambda text: None)
    app.router.routes.append(Route("/broken", broken))
    with threaded_server(app, http=http) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(b"GET /broken HTTP/1.1\r\nHost: test\r\n\r\n")
        status, headers, body = read_response(connection)
        assert status == 500 and headers["content-type"] == "application/problem+json"
        assert orjson.loads(body)["detail"] == (
            "Replicast failed to handle this request; its log has the details.")
        assert headers.get("connection") != "close"
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, body = read_response(connection)
        assert status == 200 and orjson.loads(body) == {"status": "ok"}
