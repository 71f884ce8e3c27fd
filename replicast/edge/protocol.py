"""uvicorn's httptools protocol, holding each connection to the edge's limits.

httptools buffers a header line whole before handing it over, and uvicorn reads for as long
as a client sends: so the bytes of a head are counted as they are fed to the parser, and
feeding stops at the limit. Deadlines run only while a request is being received: from a
head's first byte (a connection's first head: from the connection) to its end, and from
the end of the head to the end of the body. Between requests uvicorn's own keep-alive
timeout applies; a response is never timed.

This relies on uvicorn's internals (``HttpToolsProtocol`` and its request cycle), hence the
version range pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar, Final, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from replicast.edge.deadlines import Deadlines
from replicast.edge.limits import ConnectionCaps, EdgeLimits
from replicast.edge.writes import OneWritePerTurn

log = logging.getLogger("uvicorn.error")

LINGER = 2.0
"""Seconds a connection refused mid-request goes on being read (and discarded) after its
answer, so that the client, still sending, reads the answer rather than a reset."""
REPORT_EVERY = 10.0
"""Seconds between log lines about connections refused past the caps."""
CHUNK_FRAMING = 64
"""Bytes of framing allowed per chunk of a chunked body (its size line and the CRLF after
it), on top of ``max_header_bytes`` for its trailers and any chunk extensions."""


# Where a connection is. Plain ints: an enum member costs a lookup of some 0.3 µs on
# Python 3.11, and these are compared several times a request.
_HEAD: Final = 0  # reading a request head (or waiting for one)
_BODY: Final = 1  # the head is in; reading its body
_ENDED: Final = 2  # answered by the edge; closing


class Refusal(Exception):
    """A request the edge answers itself."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail

    def response(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """The problem response, in the shape the API's own problems have."""
        body = json.dumps({"title": self.title, "detail": self.detail,
                           "status": self.status}).encode()
        lines = [STATUS_LINE[self.status]]
        lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
        lines += [b"content-type: application/problem+json\r\n",
                  b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body]
        return b"".join(lines)


class GuardedProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with bounded heads, paced bodies and capped connections."""

    limits: ClassVar[EdgeLimits]
    caps: ClassVar[ConnectionCaps]
    deadlines: ClassVar[Deadlines]

    def __init__(self, config: Config, server_state: ServerState,
                 app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None,
                 ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._phase = _HEAD
        self._admitted: str | None = None
        self._head_bytes = 0
        self._head_started: float | None = None
        self._timed = False
        """Whether a head or a body being received has its deadline set."""
        self._body_fed = 0
        self._body_bytes = 0
        self._chunks = 0
        self._pace_started = 0.0
        self._pace_from = 0
        """``_body_bytes`` when the body's pace was last measured afresh."""
        self._linger_timer: asyncio.TimerHandle | None = None

    # Connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # A response's head and body, written in one turn, leave in one segment.
        super().connection_made(cast(asyncio.Transport, OneWritePerTurn(transport, self.loop)))
        client = self.client[0] if self.client else ""
        if self.caps.admit(client):
            self._admitted = client
            self._head_started = self.loop.time()
            self.deadlines.set(self.loop, self, self._head_started + self.limits.header_timeout)
            self._timed = True
            return
        self.connections.discard(self)  # never served: not one for uvicorn to shut down
        self._phase = _ENDED
        refused = self.caps.refusals_to_report(self.loop.time(), REPORT_EVERY)
        if refused:
            log.warning("Refused %d connection(s) past REPLICAST_MAX_CONNECTIONS (%d) or "
                        "REPLICAST_MAX_CONNECTIONS_PER_CLIENT (%d); %d open now",
                        refused, self.limits.max_connections,
                        self.limits.max_connections_per_client, self.caps.open)
        transport.write(Refusal(503, "Service unavailable",
                                "Too many connections: try again later")
                        .response(self.server_state.default_headers))
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timed:
            self._cancel_deadline()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if self._admitted is not None:
            self.caps.release(self._admitted)
            self._admitted = None
        super().connection_lost(exc)

    def _should_upgrade(self) -> bool:
        # Replicast serves no WebSockets: an upgrade would hand the connection to a
        # protocol outside these limits.
        return False

    # Reading

    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase is _ENDED:
            return  # refused: read only to be discarded until the connection closes
        self._unset_keepalive_if_required()
        try:
            if phase is _BODY:
                self._feed_body(data)
            elif len(data) <= self.limits.max_header_bytes - self._head_bytes:
                # Bytes past the head's end in this read are counted for it too, and those
                # of a next (pipelined) head after its end are not: each head still stops
                # within a read of its limit.
                self._head_bytes += len(data)
                self.parser.feed_data(data)
            else:
                self._feed_head(memoryview(data))
        except Refusal as refusal:
            self._refuse(refusal, linger=True)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Refusal):
                self._refuse(exc.__context__, linger=True)
            else:
                self._invalid(exc)
        except httptools.HttpParserUpgrade:
            self._time_what_is_unfinished()
        except httptools.HttpParserError as exc:
            self._invalid(exc)
        else:
            if self._phase is _BODY or self._head_bytes:
                self._time_what_is_unfinished()

    def _feed_head(self, rest: memoryview) -> None:
        """Feed a head's bytes no further than its limit, and anything after them."""
        while rest:
            if self._phase is _BODY:
                self._feed_body(rest)
                return
            room = self.limits.max_header_bytes - self._head_bytes
            if room <= 0:
                raise Refusal(431, "Request header fields too large",
                              f"The request head is larger than the limit of "
                              f"{self.limits.max_header_bytes} bytes")
            piece, rest = rest[:room], rest[room:]
            self._head_bytes += len(piece)
            self.parser.feed_data(piece)

    def _feed_body(self, data: bytes | memoryview) -> None:
        """Feed body bytes; a chunked body's framing and trailers count like a head's."""
        self._body_fed += len(data)
        self.parser.feed_data(data)
        if self._phase is _BODY and self._body_fed - self._body_bytes > (
                self.limits.max_header_bytes + CHUNK_FRAMING * self._chunks):
            raise Refusal(431, "Request header fields too large",
                          "The request body's chunk framing and trailers are larger than "
                          f"the limit of {self.limits.max_header_bytes} bytes")

    # Parser callbacks, beside uvicorn's

    def on_headers_complete(self) -> None:
        # Counted once the head is in, not line by line: its bytes are bounded already.
        if len(self.headers) > self.limits.max_headers:
            raise Refusal(431, "Request header fields too large",
                          f"The request has more than {self.limits.max_headers} header lines")
        if self._timed:
            self.deadlines.cancel(self)
            self._timed = False
        self._phase = _BODY
        self._body_fed = self._body_bytes = self._chunks = 0
        super().on_headers_complete()

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        # uvicorn's own, inline: this runs for every read of a body.
        if self.cycle.response_complete:
            return
        self.cycle.body += body
        if len(self.cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        self.cycle.message_event.set()

    def on_message_complete(self) -> None:
        if self._timed:
            self.deadlines.cancel(self)
            self._timed = False
        self._phase = _HEAD
        self._head_bytes = 0
        self._head_started = None
        # uvicorn's own, inline: this runs for every request.
        if self.cycle.response_complete:
            return
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def on_response_complete(self) -> None:
        # A whole response leaves now, head and body in one write, before whatever else
        # this turn of the loop runs (``OneWritePerTurn`` would send it at its end).
        cast(OneWritePerTurn, self.transport).flush()
        super().on_response_complete()

    # Deadlines

    def _time_what_is_unfinished(self) -> None:
        """After a read that left a head or a body unfinished: time it, if not yet timed."""
        if self._timed:
            return
        if self._phase is _HEAD:
            if self._head_started is None:
                self._head_started = self.loop.time()
            self._set_deadline(self._head_started + self.limits.header_timeout)
        elif self._phase is _BODY:
            self._pace_started, self._pace_from = self.loop.time(), 0
            self._set_deadline(self._pace_started + self.limits.body_timeout)

    def _set_deadline(self, when: float) -> None:
        self.deadlines.set(self.loop, self, when)
        self._timed = True

    def _cancel_deadline(self) -> None:
        self.deadlines.cancel(self)
        self._timed = False

    def deadline_passed(self, now: float) -> None:
        """The deadline of the head or body being received has passed."""
        self._timed = False
        if self.transport.is_closing():
            return
        if self._phase is _HEAD:
            self._head_late()
        elif self._phase is _BODY:
            self._body_late(now)

    def _head_late(self) -> None:
        if self._head_bytes == 0:  # a connection that never sent a thing: nothing to answer
            self._phase = _ENDED
            self.transport.close()
            return
        self._refuse(Refusal(408, "Request timeout",
                             f"The request head took longer than "
                             f"{self.limits.header_timeout:g} s to arrive"), linger=False)

    def _body_late(self, now: float) -> None:
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # The server is not reading, or has not yet asked for the body: no fault of
            # the client's. Its pace is measured afresh.
            self._pace_started, self._pace_from = now, self._body_bytes
        due = self.limits.body_due(self._pace_started, self._body_bytes - self._pace_from, now)
        if due is not None:
            self._set_deadline(due)
            return
        pace = (f" at {self.limits.body_min_rate} bytes a second"
                if self.limits.body_min_rate else "")
        self._refuse(Refusal(408, "Request timeout",
                             f"The request body took longer than "
                             f"{self.limits.body_timeout:g} s to arrive{pace}"), linger=False)

    # Ending

    def _refuse(self, refusal: Refusal, *, linger: bool) -> None:
        """Answer ``refusal`` where a response can still be written, then close."""
        address = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("%s - %d: %s", address, refusal.status, refusal.detail)
        cycle = self.cycle
        if self._phase is _BODY:  # the request being read is with the app
            answer = not cycle.response_started
        else:  # a next request: answered unless the one before is still being answered
            answer = cycle is None or cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            # The app's request ends here, its reads seeing a disconnect, its writes dropped
            # (and no "100 Continue" after the refusal, which uvicorn would write at a read).
            cycle.disconnected = True
            cycle.waiting_for_100_continue = False
            cycle.message_event.set()
        self._phase = _ENDED
        self._cancel_deadline()
        if answer:
            self.transport.write(refusal.response(self.server_state.default_headers))
        if not linger:
            self.transport.close()
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER, self.transport.close)

    def _invalid(self, error: Exception) -> None:
        """A request httptools cannot parse (an empty ``Content-Length``, a bad header
        character...): a 400 in the API's problem shape, saying what the parser found,
        and the connection closed."""
        self._phase = _ENDED
        self._cancel_deadline()
        reason = str(error).strip().rstrip(".") or type(error).__name__
        log.warning("Invalid HTTP request received: %s", reason)
        refusal = Refusal(400, "Bad request", f"The request is not valid HTTP/1.1: {reason}")
        self.transport.write(refusal.response(self.server_state.default_headers))
        self.transport.close()


def guarded(limits: EdgeLimits) -> type[GuardedProtocol]:
    """A ``GuardedProtocol`` class of its own for one server, counting its connections."""

    class Protocol(GuardedProtocol):
        pass

    Protocol.limits = limits
    Protocol.caps = ConnectionCaps(limits.max_connections, limits.max_connections_per_client)
    Protocol.deadlines = Deadlines()
    return Protocol
