"""An error no handler takes is a 500 problem, and the keep-alive connection it came on
stays open for the client's next request."""

from __future__ import annotations

import socket
import threading
import time

import orjson
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from replicast.app import create_app
from replicast.config import Settings
from replicast.server import uvicorn_server


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
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http=http, lifespan="on", log_config=None,
                            log_level="critical")
    server = uvicorn_server(app, config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        give_up = time.monotonic() + 30
        while not server.started and time.monotonic() < give_up and thread.is_alive():
            time.sleep(0.02)
        assert server.started
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /broken HTTP/1.1\r\nHost: test\r\n\r\n")
            status, headers, body = read_response(connection)
            assert status == 500 and headers["content-type"] == "application/problem+json"
            assert orjson.loads(body)["detail"] == (
                "Replicast failed to handle this request; its log has the details.")
            assert headers.get("connection") != "close"
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            status, _, body = read_response(connection)
            assert status == 200 and orjson.loads(body) == {"status": "ok"}
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
