"""A real webhook receiver on loopback that records what it is sent."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """Answers with ``statuses`` in turn (then 200), after ``delay`` seconds each."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    redirect_to: str = "/elsewhere"
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._changed:
                    receiver.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                        time.monotonic()))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._changed.notify_all()
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, check, timeout: float = 10.0) -> list[Received]:
        """Block until ``check(received)`` holds; the requests received so far."""
        give_up = time.monotonic() + timeout
        with self._changed:
            while not check(self.received):
                remaining = give_up - time.monotonic()
                assert remaining > 0, f"gave up waiting; received {len(self.received)}"
                self._changed.wait(remaining)
            return list(self.received)

    def events(self) -> list[str]:
        return [r.json["status"] for r in self.received]
