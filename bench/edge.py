"""``python -m bench.edge``: what the HTTP edge costs a request, in CPU, in this process.

Feeds the same requests to uvicorn's own httptools protocol and to Replicast's guarded one
(``replicast/edge``), each in front of an ASGI app that reads the body and answers ``ok``,
over an in-memory transport, on uvloop as the server runs: no sockets and no Replicast app,
so that what differs is the edge alone. Each figure is the CPU time per request (this
process) of the fastest of ``--rounds`` rounds, the two protocols taking turns: on a shared
machine, the round least disturbed by the neighbours. Neighbours still move these figures by
a few µs; instructions counted by valgrind do not: run one protocol and one case at two
request counts under ``valgrind --tool=callgrind`` and divide the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from replicast.edge import EdgeLimits, protocol_class

HEAD = ("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: replicate-python/1.0.7"
        "\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
        "Authorization: Bearer r8_BenchmarkTokenForReplicastAndNothingElse\r\n{more}\r\n")


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    more = (f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            if body else "")
    return HEAD.format(method=method, path=path, more=more).encode() + body


class _Transport(asyncio.Transport):
    """Takes what the protocol writes and forgets it."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000),
                "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _App:
    """Reads the whole body, answers ``ok``, and says so."""

    def __init__(self) -> None:
        self.answered: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        assert self.answered is not None
        self.answered.set()


async def _per_request(protocol: Callable[..., asyncio.Protocol], reads: list[bytes],
                       count: int, *, reconnect: bool) -> float:
    """Microseconds of CPU per request, each sent as ``reads``."""
    app = _App()
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()

    def connect() -> asyncio.Protocol:
        made = protocol(config=config, server_state=state, app_state={}, _loop=loop)
        made.connection_made(_Transport())
        return made

    connection = connect()
    began = time.process_time()
    for _ in range(count):
        if reconnect:
            connection.connection_lost(None)
            connection = connect()
        app.answered = asyncio.Event()
        for read in reads:
            connection.data_received(read)
            await asyncio.sleep(0)
        await app.answered.wait()
    spent = time.process_time() - began
    connection.connection_lost(None)
    return spent / count * 1e6


@dataclass(frozen=True)
class Case:
    """A request, as the reads that bring it, on a kept-alive or a new connection."""

    title: str
    reads: list[bytes]
    new_connection: bool = False


def _cases() -> dict[str, Case]:
    get = _request("GET", "/v1/predictions/abc")
    upload = _request("POST", "/v1/files", b"x" * 2**20)
    return {
        "get": Case("GET, kept-alive connection", [get]),
        "post": Case("POST of 1 KiB of JSON", [
            _request("POST", "/v1/predictions", b'{"input": "%s"}' % (b"x" * 1000))]),
        "upload": Case("1 MiB body in 64 KiB reads",
                       [upload[i:i + 65536] for i in range(0, len(upload), 65536)]),
        "connect": Case("GET on a new connection", [get], new_connection=True),
    }


def _fastest(protocol: Callable[..., asyncio.Protocol], case: Case, count: int) -> float:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_per_request(protocol, case.reads, count,
                                       reconnect=case.new_connection))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    parser.add_argument("--requests", type=int, default=20000,
                        help="requests a round (a twentieth of it for the 1 MiB body)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--case", choices=[*_cases(), "all"], default="all")
    parser.add_argument("--protocol", choices=["uvicorn", "edge", "both"], default="both",
                        help="one alone, to count its instructions under valgrind")
    args = parser.parse_args()
    protocols = {"uvicorn": HttpToolsProtocol, "edge": protocol_class(EdgeLimits())}
    if args.protocol != "both":
        protocols = {args.protocol: protocols[args.protocol]}
    print("| request | " + " | ".join(f"{name}, µs" for name in protocols)
          + (" | difference |" if len(protocols) == 2 else " |"))
    print("| --- " * (len(protocols) + 1 + (len(protocols) == 2)) + "|")
    for key, case in _cases().items():
        if args.case not in ("all", key):
            continue
        count = args.requests if len(case.reads) == 1 else max(1, args.requests // 20)
        spent: dict[str, list[float]] = {name: [] for name in protocols}
        for _ in range(args.rounds):  # taking turns, so that a busy moment hits both
            for name, protocol in protocols.items():
                spent[name].append(_fastest(protocol, case, count))
        fastest = [min(times) for times in spent.values()]
        cells = [f"{value:.1f}" for value in fastest]
        if len(fastest) == 2:
            a, b = fastest
            cells.append(f"{b - a:+.1f} ({(b - a) / a:+.0%})")
        print(f"| {case.title} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
