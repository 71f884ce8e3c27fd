"""A response leaves in one write: its head and body joined, sent once it is complete."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from replicast.edge import EdgeLimits, protocol_class
from replicast.edge.writes import FLUSH_BYTES, OneWritePerTurn


class FakeTransport:
    """Records what reaches the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = self.closed = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


def joined(transport: FakeTransport) -> OneWritePerTurn:
    return OneWritePerTurn(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_the_writes_of_one_turn_leave_together_at_its_end():
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
    writes.write(b"")
    writes.write(b'{"a": 1}')
    assert socket.writes == []
    assert writes.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\n{\"a\": 1}")
    await asyncio.sleep(0)
    assert socket.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}']
    writes.write(b"next")  # a later turn: its own write
    await asyncio.sleep(0)
    assert socket.writes[1:] == [b"next"]
    assert writes.get_write_buffer_size() == 0


async def test_a_flush_sends_at_once_and_the_turn_s_end_finds_nothing_more():
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"head")
    writes.write(b"body")
    writes.flush()
    assert socket.writes == [b"headbody"]
    await asyncio.sleep(0)
    assert socket.writes == [b"headbody"]


async def test_a_burst_goes_as_soon_as_it_is_large():
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"x" * (FLUSH_BYTES - 1))
    assert socket.writes == []
    writes.write(b"y")
    assert socket.writes == [b"x" * (FLUSH_BYTES - 1) + b"y"]


async def test_closing_sends_what_waits_first_and_aborting_drops_it():
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"last words")
    writes.close()
    assert socket.writes == [b"last words"] and socket.closed
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"never sent")
    writes.abort()
    await asyncio.sleep(0)
    assert socket.writes == [] and socket.aborted


async def test_nothing_is_sent_once_the_connection_is_lost():
    # uvicorn stops writing once the connection is lost; what waited here stops too
    # (uvloop raises for a write on a closed handle).
    socket = FakeTransport()
    writes = joined(socket)
    writes.write(b"too late")
    socket.closing = True
    await asyncio.sleep(0)
    assert socket.writes == []


async def test_a_response_leaves_in_one_write_as_soon_as_it_is_complete():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"8")]})
        await send({"type": "http.response.body", "body": b'{"a": 1}'})
        # Whatever the app does next in this turn, the answer has left already.
        socket.writes.append(b"(the app went on)")

    config = Config(app=app, lifespan="off", access_log=False, log_config=None)
    config.load()
    protocol = protocol_class(EdgeLimits())(config=config, server_state=ServerState(),
                                            app_state={})
    socket = FakeTransport()
    protocol.connection_made(socket)  # type: ignore[arg-type]
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(socket.writes) == 2
    response, after = socket.writes
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b'\r\n\r\n{"a": 1}')
    assert after == b"(the app went on)"
    protocol.connection_lost(None)


async def test_no_continue_is_written_after_a_refusal():
    # A body refused mid-way (its chunk framing past the limit) while the app has not read
    # it yet: uvicorn wrote "100 Continue" at the app's first read, after the 431 and the
    # end of writing (uvloop raised, at the end of the turn here).
    reads: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01)  # the refusal comes meanwhile
        reads.append(await receive())

    config = Config(app=app, lifespan="off", access_log=False, log_config=None)
    config.load()
    protocol = protocol_class(EdgeLimits(max_header_bytes=1024))(
        config=config, server_state=ServerState(), app_state={})
    socket = FakeTransport()
    socket.write_eof = lambda: socket.writes.append(b"<eof>")  # type: ignore[method-assign]
    protocol.connection_made(socket)  # type: ignore[arg-type]
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
    protocol.data_received(b"1;" + b"x" * 2000 + b"\r\na\r\n")  # framing past the limit
    for _ in range(3):
        await asyncio.sleep(0.02)
    assert reads == [{"type": "http.disconnect"}]
    refused = b"".join(socket.writes)
    assert refused.startswith(b"HTTP/1.1 431 ") and refused.endswith(b"<eof>")
    assert b"100 Continue" not in refused
    protocol.connection_lost(None)
