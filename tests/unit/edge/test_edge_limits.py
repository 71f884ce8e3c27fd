"""The edge's rules as plain logic: how long a body may take, and who may connect."""

from __future__ import annotations

import json
import sys

import pytest

from replicast.edge import ConnectionCaps, EdgeLimits, protocol_class
from replicast.edge.protocol import Refusal
from replicast.errors import ConfigError

LIMITS = EdgeLimits(body_timeout=30, body_min_rate=1000)


def test_any_body_has_the_body_timeout():
    assert LIMITS.body_due(100.0, 0, 100.0) == 130.0
    assert LIMITS.body_due(100.0, 0, 129.9) == 130.0
    assert LIMITS.body_due(100.0, 0, 130.0) is None


def test_past_the_timeout_a_body_must_average_the_minimum_rate():
    assert LIMITS.body_due(100.0, 45_000, 130.0) == 145.0  # earned until 45 s in
    assert LIMITS.body_due(100.0, 45_000, 144.9) == 145.0
    assert LIMITS.body_due(100.0, 45_000, 145.0) is None
    assert LIMITS.body_due(100.0, 29_999, 130.0) is None


def test_a_steady_body_just_over_the_minimum_rate_is_never_cut():
    # 100 MB at 1001 bytes a second, looked at whenever the timer would fire: it takes
    # about 28 hours, and may.
    size, now, received = 100_000_000, 0.0, 0
    while received < size:
        due = LIMITS.body_due(0.0, received, now)
        assert due is not None and due > now
        now = due
        received = min(size, int(now * 1001))
    assert now > 99_000


def test_with_no_minimum_rate_the_timeout_is_the_whole_of_it():
    limits = EdgeLimits(body_timeout=30, body_min_rate=0)
    assert limits.body_due(0.0, 10**9, 29.0) == 30.0
    assert limits.body_due(0.0, 10**9, 30.0) is None


def test_connections_are_capped_per_client_and_in_all():
    caps = ConnectionCaps(total=3, per_client=2)
    assert caps.admit("a") and caps.admit("a")
    assert not caps.admit("a")
    assert caps.admit("b")
    assert not caps.admit("c")  # the total
    assert (caps.open, caps.clients()) == (3, 2)
    caps.release("a")
    assert caps.admit("c")
    assert not caps.admit("c") and not caps.admit("a")
    for client in ("a", "b", "c"):
        caps.release(client)
    assert (caps.open, caps.clients()) == (0, 0)


def test_a_cap_of_zero_is_no_cap():
    caps = ConnectionCaps(total=0, per_client=0)
    assert all(caps.admit("a") for _ in range(10_000))


def test_refusals_are_reported_at_most_once_a_period():
    caps = ConnectionCaps(total=1, per_client=0)
    caps.admit("a")
    assert caps.refusals_to_report(0.0, 10) == 0  # none yet
    assert not caps.admit("b")
    assert caps.refusals_to_report(0.0, 10) == 1
    for _ in range(5):
        caps.admit("b")
    assert caps.refusals_to_report(9.0, 10) == 0
    assert caps.refusals_to_report(10.0, 10) == 5
    assert caps.refusals_to_report(30.0, 10) == 0


def test_each_server_gets_a_protocol_class_counting_its_own_connections():
    first, second = protocol_class(EdgeLimits()), protocol_class(EdgeLimits())
    assert first is not second
    assert first.caps is not second.caps  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [408, 431, 503])
def test_refusals_are_problems_that_close_the_connection(status):
    raw = Refusal(status, "Title", "What happened").response([(b"server", b"uvicorn")])
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    assert "connection: close" in lines and "server: uvicorn" in lines
    assert "content-type: application/problem+json" in lines
    assert f"content-length: {len(body)}" in lines
    assert json.loads(body) == {"title": "Title", "detail": "What happened", "status": status}


def test_without_httptools_the_server_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "httptools", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "replicast.edge.protocol")
    with pytest.raises(ConfigError, match=r"needs httptools .*pip install 'httptools"):
        protocol_class(EdgeLimits())
