"""SSE encoding: no text in an event's data can start another field or event."""

import json
import re

import httpx
import pytest

from replicast.api.sse import encode, json_data

FORGERIES = [
    "progress 10%\revent: done\r\ndata: {}\r\r",
    "a\r\nevent: done\r\n\r\n",
    "a\n\nevent: done\ndata: {}\n\n",
    "50%|█████     | 5/10\rid: 9:9\revent: error\rdata: boom\r\r",
    "\r",
    "\r\n\r\n",
    "x\u2028event: done\u2029\u2029",
    "x\x85event: done\x0b\x0c\x1c\x1d\x1e",
    "plain",
    "",
]


def spec_lines(body: str) -> list[str]:
    """Lines as the SSE specification reads them (browsers, the npm client)."""
    return re.split("\r\n|\r|\n", body)


def httpx_lines(body: str) -> list[str]:
    """Lines as the official Python client reads them (httpx ``iter_lines``), fed one
    character at a time so that every chunk boundary is tried."""
    decoder = httpx._decoders.LineDecoder()
    lines = [line for char in body for line in decoder.decode(char)]
    return lines + decoder.flush()


def events(lines: list[str]) -> list[tuple[str | None, str | None, str]]:
    """Events as a conforming parser dispatches them: (event, id, data)."""
    found: list[tuple[str | None, str | None, str]] = []
    event, event_id, data = None, None, []
    for line in lines:
        if not line:
            if data:
                found.append((event, event_id, "\n".join(data)))
            event, data = None, []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
    return found


@pytest.mark.parametrize("reader", [spec_lines, httpx_lines])
@pytest.mark.parametrize("text", FORGERIES)
def test_text_with_line_ends_stays_one_event(reader, text):
    body = encode("output", text, "3:14").decode()
    expected = re.sub("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]", "\n", text)
    assert events(reader(body)) == [("output", "3:14", expected)]


@pytest.mark.parametrize("reader", [spec_lines, httpx_lines])
@pytest.mark.parametrize("text", FORGERIES)
def test_json_data_arrives_intact(reader, text):
    value = {"detail": text, "items": [text]}
    body = encode("error", json_data(value), "1:2:end").decode()
    [(event, event_id, data)] = events(reader(body))
    assert (event, event_id, json.loads(data)) == ("error", "1:2:end", value)
    assert "\n" not in data


def test_frames_end_with_one_blank_line():
    assert encode("done", "{}", "0:0:end") == b"event: done\nid: 0:0:end\ndata: {}\n\n"
    assert encode("logs", "a\nb\n", "0:4") == b"event: logs\nid: 0:4\ndata: a\ndata: b\ndata: \n\n"
