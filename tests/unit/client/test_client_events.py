"""Server-Sent Events as the stream sends them, cut anywhere."""

from __future__ import annotations

from replicast.client.events import StreamEvent, parse_events

STREAM = (
    ": keep-alive\n\n"
    "event: logs\nid: 0:12\ndata:  50%|██| 1/2\rx\ndata: \n\n"
    "event: output\nid: 1:12\ndata: hello\n\n"
    "event: done\nid: 1:12:end\ndata: {}\n\n"
)


def test_events_are_read_whole_whatever_the_chunks():
    expected = [StreamEvent("logs", " 50%|██| 1/2\rx\n", "0:12"),
                StreamEvent("output", "hello", "1:12"), StreamEvent("done", "{}", "1:12:end")]
    assert list(parse_events([STREAM])) == expected
    assert list(parse_events(STREAM)) == expected  # one character at a time
    assert list(parse_events([STREAM.replace("\n", "\r\n")])) == expected


def test_an_event_cut_off_before_its_blank_line_is_not_delivered():
    assert list(parse_events(["event: output\ndata: half"])) == []
