"""The HTTP edge against a real server: heads bounded in bytes, lines and time, bodies
paced, connections capped per client and in all, and nothing legitimate cut.

The server here has two-second head and body timeouts, so that trickles are cut soon (and
a loaded machine still sends 64 KiB within them); each test sends for far longer than that
before it gives up on the server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import ssl
import time
from pathlib import Path

import httpx
import pytest
import replicate

from tests.e2e.conftest import self_signed_certificate
from tests.support import raw_http
from tests.support.server import TOKEN, ServerProcess

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
MIN_RATE = 1000
GIVE_UP = 20
"""Seconds a test keeps trickling before concluding the server never cuts it."""
AUTH = f"Authorization: Bearer {TOKEN}"
ECHO = "/v1/models/replicast/echo/predictions"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("edge"),
        env={"REPLICAST_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
             "REPLICAST_BODY_TIMEOUT": str(BODY_TIMEOUT),
             "REPLICAST_BODY_MIN_RATE": str(MIN_RATE),
             "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"},
    ).start()
    yield process
    process.stop()


def peak_memory(server: ServerProcess) -> int:
    """The server process's peak resident memory so far, in bytes."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_a_head_past_the_size_limit_is_a_431_and_costs_the_server_nothing(server):
    with server.client() as http:  # past what a server's first requests allocate
        for _ in range(20):
            assert http.get("/v1/predictions").status_code == 200
    before = peak_memory(server)
    endless = itertools.repeat(b"a" * 65536, 512)  # 32 MiB of one header, never ended
    with raw_http.connect(server.port) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent = 0
        for piece in endless:
            if raw_http.readable(sock):
                break
            try:
                sock.sendall(piece)
            except ConnectionError:
                break
            sent += len(piece)
        assert raw_http.readable(sock, GIVE_UP), f"no answer after {sent} bytes of head"
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 431
        assert json.loads(reply.body)["detail"] == \
            "The request head is larger than the limit of 65536 bytes"
        assert reply.headers["connection"] == "close"
        assert raw_http.closed(sock, GIVE_UP)
    grown = peak_memory(server) - before
    assert grown < 16 * 2**20, f"the server's peak memory grew by {grown} bytes"
    with server.client() as http:
        assert http.get("/health/live").status_code == 200


def test_a_head_at_the_size_limit_is_served(server):
    request = raw_http.get("/health/live", "X-Big: ")
    filler = 65536 - len(request)
    with raw_http.connect(server.port) as sock:
        sock.sendall(request.replace(b"X-Big: ", b"X-Big: " + b"a" * filler))
        reply = raw_http.read_reply(sock)
    assert reply is not None and reply.status == 200


def test_too_many_header_lines_are_a_431(server):
    many = [f"X-Line-{n}: {n}" for n in range(100)]  # and Host: 101 lines
    with raw_http.connect(server.port) as sock:
        sock.sendall(raw_http.get("/health/live", *many))
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 431
        assert json.loads(reply.body)["detail"] == "The request has more than 100 header lines"
        assert raw_http.closed(sock, GIVE_UP)
    with raw_http.connect(server.port) as sock:
        sock.sendall(raw_http.get("/health/live", *many[:99]))  # 100 lines in all
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 200


@pytest.mark.parametrize("header", ["Content-Length: ", "Content-Length: 1x",
                                    "Bad Name: value", "X-Null: a\x00b"])
def test_a_request_that_is_not_http_is_a_400_problem_naming_what_is_wrong(server, header):
    with raw_http.connect(server.port) as sock:
        sock.sendall(raw_http.get("/v1/predictions", AUTH, header))
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 400
        assert reply.headers["content-type"] == "application/problem+json"
        problem = json.loads(reply.body)
        assert problem["status"] == 400 and problem["title"] == "Bad request"
        assert problem["detail"].startswith("The request is not valid HTTP/1.1: ")
        assert len(problem["detail"]) > len("The request is not valid HTTP/1.1: ")
        assert raw_http.closed(sock, GIVE_UP)


def test_a_trickled_head_is_cut_at_the_header_timeout(server):
    with raw_http.connect(server.port) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        lines = (b"X-Slow-%d: x\r\n" % n for n in itertools.count())
        reply, seconds = raw_http.trickle(sock, lines, 0.2, GIVE_UP)
        assert reply is not None and reply.status == 408, f"not cut in {seconds:.1f} s"
        assert json.loads(reply.body)["detail"] == \
            f"The request head took longer than {HEADER_TIMEOUT} s to arrive"
        assert raw_http.closed(sock, GIVE_UP)
    assert seconds >= HEADER_TIMEOUT * 0.9


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(server):
    with raw_http.connect(server.port) as sock:
        assert raw_http.readable(sock, GIVE_UP)
        assert sock.recv(65536) == b""  # closed, with nothing to answer


def test_an_idle_keep_alive_connection_is_not_cut_by_the_header_timeout(server):
    with raw_http.connect(server.port) as sock:
        for _ in range(2):
            sock.sendall(raw_http.get("/health/live"))
            reply = raw_http.read_reply(sock)
            assert reply is not None and reply.status == 200
            # Longer than a head may take, shorter than uvicorn's keep-alive of 5 s.
            assert not raw_http.readable(sock, HEADER_TIMEOUT + 1)


def _post_head(path: str, length: int, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", AUTH,
             "Content-Type: application/json", f"Content-Length: {length}", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_a_body_trickled_below_the_minimum_rate_is_cut(server):
    with raw_http.connect(server.port) as sock:
        sock.sendall(_post_head(ECHO, 100_000))
        spaces = itertools.repeat(b" " * 10)  # 50 bytes a second, far below 1000
        reply, seconds = raw_http.trickle(sock, spaces, 0.2, GIVE_UP)
        assert reply is not None and reply.status == 408, f"not cut in {seconds:.1f} s"
        assert json.loads(reply.body)["detail"] == \
            f"The request body took longer than {BODY_TIMEOUT} s to arrive at 1000 bytes a second"
        assert raw_http.closed(sock, GIVE_UP)
    assert seconds >= BODY_TIMEOUT * 0.9


def test_a_body_that_never_comes_is_cut(server):
    with raw_http.connect(server.port) as sock:
        sock.sendall(_post_head(ECHO, 100))
        assert raw_http.readable(sock, GIVE_UP)
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 408


def test_a_body_sent_at_a_decent_pace_may_take_longer_than_the_body_timeout(server):
    body = json.dumps({"input": {"prompt": "x" * 15_000}}).encode()
    with raw_http.connect(server.port) as sock:
        sock.sendall(_post_head(ECHO, len(body), "Prefer: wait"))
        began = time.monotonic()
        for start in range(0, len(body), 1000):  # about 4000 bytes a second, for ~4 s
            assert not raw_http.readable(sock, 0.25), "cut while sending at a decent pace"
            sock.sendall(body[start:start + 1000])
        reply = raw_http.read_reply(sock)
    assert time.monotonic() - began > BODY_TIMEOUT
    assert reply is not None and reply.status == 201
    assert json.loads(reply.body)["status"] == "succeeded"


def test_chunked_trailers_past_the_head_limit_are_refused(server):
    with raw_http.connect(server.port) as sock:
        sock.sendall(b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     + AUTH.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\n{}\r\n0\r\nX-Trailer: ")
        sent = 0
        while sent < 32 * 2**20 and not raw_http.readable(sock):
            try:
                sock.sendall(b"a" * 65536)
            except ConnectionError:
                break
            sent += 65536
        assert raw_http.readable(sock, GIVE_UP), f"no answer after {sent} bytes of trailer"
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 431
        assert raw_http.closed(sock, GIVE_UP)


def test_event_streams_and_waits_outlast_every_timeout(server):
    with server.client() as http:
        created = http.post(ECHO, json={"input": {"prompt": "one two three four five six",
                                                  "delay": 0.7}}).json()
        began = time.monotonic()
        with http.stream("GET", created["urls"]["stream"],
                         headers={"Accept": "text/event-stream"}) as response:
            events = [line for line in response.iter_lines() if line.startswith("event: ")]
        assert events[-1] == "event: done"
        assert time.monotonic() - began > max(HEADER_TIMEOUT, BODY_TIMEOUT)
        waited = http.post("/v1/models/replicast/sleep/predictions",
                           json={"input": {"seconds": 3}}, headers={"Prefer": "wait"})
        assert waited.json()["status"] == "succeeded"


def test_the_official_client_uploads_a_file_of_the_full_100_mb(server, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (100 * 1024 * 1024))
    with httpx.HTTPTransport() as transport:
        client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                  transport=transport, timeout=120)
        with path.open("rb") as file:
            created = client.files.create(file)
    assert created.size == 100 * 1024 * 1024


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("capped"),
        env={"REPLICAST_MAX_CONNECTIONS": "4", "REPLICAST_MAX_CONNECTIONS_PER_CLIENT": "2"},
    ).start()
    yield process
    process.stop()


def _served(sock) -> int | None:
    """The status of a GET on ``sock``; None if the connection was closed unanswered."""
    try:
        sock.sendall(raw_http.get("/health/live"))
        reply = raw_http.read_reply(sock)
    except ConnectionError:
        return None
    return reply.status if reply else None


def test_connections_past_the_caps_are_refused_while_the_others_are_served(capped):
    with contextlib.ExitStack() as stack:
        open_ = []
        give_up = time.monotonic() + GIVE_UP
        # Two clients take the four connections of the server's cap (once the server has
        # let go of the one that checked it was up).
        while True:
            for source in ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"):
                open_.append(stack.enter_context(raw_http.connect(capped.port, source)))
            statuses = [_served(sock) for sock in open_]
            if statuses == [200] * 4 or time.monotonic() > give_up:
                break
            for sock in open_:
                sock.close()
            open_.clear()
        assert statuses == [200] * 4

        with raw_http.connect(capped.port, "127.0.0.2") as third:  # past its client's cap
            reply = raw_http.read_reply(third)
            assert reply is not None and reply.status == 503
            assert raw_http.closed(third, GIVE_UP)
        with raw_http.connect(capped.port, "127.0.0.4") as fifth:  # past the total
            reply = raw_http.read_reply(fifth)
            assert reply is not None and reply.status == 503
        assert [_served(sock) for sock in open_] == [200] * 4

        open_.pop().close()  # one of 127.0.0.3's: room for one more connection
        while time.monotonic() < give_up:
            with raw_http.connect(capped.port, "127.0.0.4") as another:
                if _served(another) == 200:
                    break
        else:
            pytest.fail("a connection closed, and still no room for another")
        with raw_http.connect(capped.port, "127.0.0.2") as third:
            assert raw_http.read_reply(third).status == 503  # its client is still at its cap


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge-tls")
    process = ServerProcess(folder, tls=self_signed_certificate(folder),
                            env={"REPLICAST_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}).start()
    yield process
    process.stop()


def test_over_https_too_heads_are_bounded_in_size_and_time(https):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with raw_http.connect(https.port) as plain, \
            context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        # 1 MiB, never ended. (Whether the answer has come is not asked of the socket on the
        # way: TLS sends records of its own after the handshake.)
        for _ in range(16):
            try:
                sock.sendall(b"a" * 65536)
            except (ConnectionError, ssl.SSLError):
                break
        reply = raw_http.read_reply(sock)
        assert reply is not None and reply.status == 431
    with raw_http.connect(https.port) as plain, \
            context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        lines = (b"X-Slow-%d: x\r\n" % n for n in itertools.count())
        reply, seconds = raw_http.trickle(sock, lines, 0.2, GIVE_UP)
        assert reply is not None and reply.status == 408, f"not cut in {seconds:.1f} s"
