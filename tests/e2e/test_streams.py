"""Server-Sent Events through the official clients and raw HTTP, resumable and replayable."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import TOKEN

JS = Path(__file__).parents[1] / "js"


def parse(lines):
    """SSE frames as (event, id, data) from an iterable of lines."""
    event, event_id, data = None, None, []
    for line in lines:
        if line == "":
            if event is not None:
                yield event, event_id, "\n".join(data)
            event, data = None, []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data.append(line[6:])


def read_stream(url, last_event_id=None, stop_after=None):
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    frames = []
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in parse(response.iter_lines()):
            frames.append(frame)
            if frame[0] == "done" or (stop_after and len(frames) == stop_after):
                break
    return frames


def test_python_stream_yields_tokens_as_they_are_produced(client, http):
    began = time.monotonic()
    arrivals = []
    tokens = []
    for event in client.stream("replicast/echo", input={"prompt": "one two three four",
                                                        "delay": 0.3}):
        if event.event == event.EventType.OUTPUT:
            arrivals.append(time.monotonic() - began)
            tokens.append(str(event))
    assert tokens == ["one", " two", " three", " four"]
    # Each token arrived when produced, not all at the end.
    assert arrivals[-1] - arrivals[0] > 0.6
    assert arrivals[0] < arrivals[-1] - 0.6


def test_prediction_stream_of_a_created_prediction(client):
    prediction = client.predictions.create(model="replicast/echo",
                                           input={"prompt": "a b", "delay": 0.05}, stream=True)
    events = list(prediction.stream())
    assert [str(e) for e in events if e.event == e.EventType.OUTPUT] == ["a", " b"]
    assert events[-1].event == events[-1].EventType.DONE and events[-1].data == "{}"


def test_a_finished_prediction_replays_and_ends_with_done(http):
    done = http.post("/v1/models/replicast/echo/predictions", headers={"Prefer": "wait"},
                     json={"input": {"prompt": "x y z"}}).json()
    frames = read_stream(done["urls"]["stream"])
    assert [f[2] for f in frames if f[0] == "output"] == ["x", " y", " z"]
    assert frames[-1][:1] == ("done",) and json.loads(frames[-1][2]) == {}
    assert all(f[1] for f in frames)  # every event has an id


def test_logs_failures_and_cancels(http, client):
    sleep = http.post("/v1/models/replicast/sleep/predictions", headers={"Prefer": "wait"},
                      json={"input": {"seconds": 0.3}}).json()
    frames = read_stream(sleep["urls"]["stream"])
    logs = "".join(f[2] for f in frames if f[0] == "logs")
    assert logs == sleep["logs"]
    assert [f[2] for f in frames if f[0] == "output"] == ["Slept for 0.3 seconds"]

    failed = http.post("/v1/models/replicast/fail/predictions", headers={"Prefer": "wait"},
                       json={"input": {"message": "nope"}}).json()
    frames = read_stream(failed["urls"]["stream"])
    assert frames[-2][0] == "error" and json.loads(frames[-2][2]) == {"detail": "nope"}
    assert frames[-1][0] == "done" and json.loads(frames[-1][2]) == {"reason": "error"}
    with pytest.raises(RuntimeError, match="nope"):
        list(client.stream("replicast/fail", input={"message": "nope"}))

    running = http.post("/v1/models/replicast/sleep/predictions",
                        json={"input": {"seconds": 30}}).json()
    http.post(f"/v1/predictions/{running['id']}/cancel")
    frames = read_stream(running["urls"]["stream"])
    assert frames[-1][0] == "done" and json.loads(frames[-1][2]) == {"reason": "canceled"}


def test_reconnecting_with_last_event_id_resumes_without_losses_or_repeats(http):
    words = [f"w{i}" for i in range(30)]
    created = http.post("/v1/models/replicast/echo/predictions", json={
        "input": {"prompt": " ".join(words), "delay": 0.03}}).json()
    url = created["urls"]["stream"]
    seen = []
    last_id = None
    for _ in range(20):  # read a few events at a time, reconnecting each time
        frames = read_stream(url, last_event_id=last_id, stop_after=4)
        seen += frames
        last_id = frames[-1][1]
        if frames[-1][0] == "done":
            break
    output = [f[2] for f in seen if f[0] == "output"]
    assert output == [words[0]] + [f" {w}" for w in words[1:]]
    assert [f[0] for f in seen].count("done") == 1


def test_the_stream_needs_no_token_and_reveals_nothing_else(http, server):
    created = http.post("/v1/models/replicast/echo/predictions",
                        json={"input": {"prompt": "secret"}}).json()
    url = created["urls"]["stream"]
    path = urlsplit(url).path
    token = path.rsplit("/", 1)[-1]
    assert len(token) >= 50 and created["id"] not in path
    frames = read_stream(url)  # no Authorization header
    assert [f[2] for f in frames if f[0] == "output"] == ["secret"]
    other = http.post("/v1/models/replicast/echo/predictions",
                      json={"input": {"prompt": "x"}}).json()
    assert other["urls"]["stream"] != url
    wrong = "y" if token.endswith("x") else "x"  # a token one character off
    guessed = httpx.get(f"{server.base_url}/v1/streams/{token[:-1]}{wrong}")
    assert guessed.status_code == 404
    assert guessed.headers["content-type"] == "application/problem+json"


def test_hundreds_of_streams_each_get_every_event(http, server):
    words = [f"t{i}" for i in range(20)]
    created = http.post("/v1/models/replicast/echo/predictions", json={
        "input": {"prompt": " ".join(words), "delay": 0.05}}).json()
    path = urlsplit(created["urls"]["stream"]).path
    port = urlsplit(server.base_url).port

    async def follow():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
                     .encode())
        lines = []
        while True:
            line = (await reader.readline()).decode().rstrip("\r\n")
            lines.append(line)
            if line.startswith("event: done"):
                break
        writer.close()
        return [f[2] for f in parse([*lines, "", ""]) if f[0] == "output"]

    async def main():
        return await asyncio.gather(*(follow() for _ in range(300)))

    results = asyncio.run(main())
    expected = [words[0]] + [f" {w}" for w in words[1:]]
    assert all(result == expected for result in results)


def test_the_npm_client_streams_tokens(server):
    script = ("import Replicate from 'replicate';"
              "const r = new Replicate({auth: process.env.TOKEN, baseUrl: process.env.URL});"
              "const out = [];"
              "for await (const e of r.stream('replicast/echo',"
              " {input: {prompt: 'streams from node', delay: 0.05}})) {"
              " if (e.event === 'output') out.push(e.data); }"
              "console.log(JSON.stringify(out));")
    result = subprocess.run(["node", "--input-type=module", "-e", script], cwd=JS,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TOKEN": TOKEN, "URL": f"{server.base_url}/v1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["streams", " from", " node"]
