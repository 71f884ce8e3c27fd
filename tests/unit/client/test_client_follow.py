"""Following a prediction: the event stream first, polling when the stream fails."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import httpx

from replicast.client import follow as follow_module
from replicast.client.connection import Connection
from replicast.client.display import Display
from replicast.client.follow import Follower, concatenates, writes_text

ECHO_OUTPUT = {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator",
               "x-cog-array-display": "concatenate"}
STARTING = {"id": "p1", "status": "starting",
            "urls": {"get": "http://s/v1/predictions/p1", "stream": "http://s/v1/streams/tok"}}
FINAL = {"id": "p1", "status": "succeeded", "logs": "step 1/2\nstep 2/2\n",
         "output": ["hello", " world"]}


def follow(handler, prediction=STARTING):
    out, err = io.StringIO(), io.StringIO()
    display = Display(out, err, terminal=False)
    with Connection("http://s", "r8_t", transport=httpx.MockTransport(handler)) as connection:
        follower = Follower(connection, display, prediction, text=writes_text(ECHO_OUTPUT),
                            concatenate=concatenates(ECHO_OUTPUT))
        final = follower.follow()
        follower.finish()
    display.close()
    return final, follower, out.getvalue(), err.getvalue()


def test_the_stream_shows_logs_progress_and_text_then_the_final_prediction_is_read():
    asked = []

    def handler(request):
        asked.append(request.url.path)
        if request.url.path == "/v1/streams/tok":
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=(
                b"event: logs\nid: 0:9\ndata: step 1/2\ndata: \n\n"
                b"event: output\nid: 1:9\ndata: hello\n\n"
                b"event: logs\nid: 1:18\ndata: step 2/2\ndata: \n\n"
                b"event: output\nid: 2:18\ndata:  world\n\n"
                b"event: done\nid: 2:18:end\ndata: {}\n\n"))
        return httpx.Response(200, json=FINAL)

    final, follower, out, err = follow(handler)
    assert final == FINAL
    assert asked == ["/v1/streams/tok", "/v1/predictions/p1"]  # no polling
    assert out == "hello world\n"
    assert follower.streamed == 2
    assert err.splitlines() == ["Status: processing", "progress: 50% (1/2)",
                                "progress: 100% (2/2)"]


def test_a_broken_stream_falls_back_to_polling_without_repeating_anything(monkeypatch):
    monkeypatch.setattr(follow_module, "POLL_FIRST", 0.0)
    final_logs = "step 1/2\nUsing seed: 3\nstep 2/2\n"
    polls = iter([
        {"id": "p1", "status": "processing", "logs": "step 1/2\n", "output": ["hello"]},
        {"id": "p1", "status": "processing", "logs": "step 1/2\nUsing seed: 3\n",
         "output": ["hello", " world"]},
        {**FINAL, "logs": final_logs},
    ])

    def handler(request):
        if request.url.path == "/v1/streams/tok":
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                                  content=b"event: logs\nid: 0:9\ndata: step 1/2\ndata: \n\n"
                                          b"event: output\nid: 1:9\ndata: hello\n\n")
        return httpx.Response(200, json=next(polls))

    final, _, out, err = follow(handler)
    assert final["logs"] == final_logs
    assert out == "hello world\n"
    assert err.splitlines() == ["Status: processing", "progress: 50% (1/2)", "Using seed: 3",
                                "progress: 100% (2/2)"]


def test_a_stream_that_cannot_be_opened_is_polled_instead():
    def handler(request):
        if request.url.path == "/v1/streams/tok":
            return httpx.Response(503)
        return httpx.Response(200, json=FINAL)

    final, _, out, err = follow(handler)
    assert final == FINAL
    assert "polling instead" in err
    assert "progress: 100% (2/2)" in err
    assert out == ""  # text that arrives with the end is the caller's to print


def test_file_outputs_are_not_text():
    assert not writes_text({"type": "array", "items": {"type": "string", "format": "uri"}})
    assert not writes_text({"type": "string", "format": "uri"})
    assert writes_text({"type": "string"})
    assert not concatenates({"type": "array", "items": {"type": "string"}})


def test_a_waiting_prediction_shows_its_place_as_it_moves_then_streams(monkeypatch):
    monkeypatch.setattr(follow_module, "QUEUE_POLL", 0.0)
    soon = (datetime.now(UTC) + timedelta(seconds=40.4)).isoformat()
    queued = {**STARTING, "queue": {"position": 3, "estimated_start": soon}}
    polls = iter([
        queued,  # the same place: not shown again
        {**STARTING, "queue": {"position": 2, "estimated_start": None}},
        {**STARTING, "status": "processing"},
    ])
    asked = []

    def handler(request):
        asked.append(request.url.path)
        if request.url.path == "/v1/streams/tok":
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=(
                b"event: output\nid: 1:0\ndata: hello\n\n"
                b"event: done\nid: 1:0:end\ndata: {}\n\n"))
        if len(asked) <= 3:
            return httpx.Response(200, json=next(polls))
        return httpx.Response(200, json={**FINAL, "logs": "", "output": ["hello"]})

    final, _, out, err = follow(handler, queued)
    assert final["status"] == "succeeded" and out == "hello\n"
    assert asked == ["/v1/predictions/p1"] * 3 + ["/v1/streams/tok", "/v1/predictions/p1"]
    lines = err.splitlines()
    assert re.fullmatch(r"3rd in the queue, starting in about (39|40) s", lines[0]), lines
    assert lines[1:] == ["2nd in the queue", "Status: processing"]


def test_a_prediction_that_ends_while_it_waits_is_not_streamed(monkeypatch):
    monkeypatch.setattr(follow_module, "QUEUE_POLL", 0.0)
    queued = {**STARTING, "queue": {"position": 1, "estimated_start": None}}
    canceled = {"id": "p1", "status": "canceled", "logs": "", "output": None}
    asked = []

    def handler(request):
        asked.append(request.url.path)
        return httpx.Response(200, json=canceled)

    final, _, _, err = follow(handler, queued)
    assert final == canceled and asked == ["/v1/predictions/p1"]
    assert err.splitlines() == ["Next in the queue"]

