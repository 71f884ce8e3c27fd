"""The log pipe: text and messages, however the pipe cuts it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replicast.predictors.protocol import PIPE_BUF, LogSplitter, record

STREAM = (b"setup text\n" + record({"type": "ready"}) + record({"type": "owner", "owner": "ab"})
          + b"first \xc3\xa9\n" + record({"type": "output", "id": "ab", "item": "x\x00y"})
          + b"\x00not a record\x00" + b"\x00\x1breplicast:not json\x00"
          + record({"type": "done", "id": "ab"}) + b"tail")
EXPECTED = [b"setup text\n", {"type": "ready"}, {"type": "owner", "owner": "ab"},
            b"first \xc3\xa9\n", {"type": "output", "id": "ab", "item": "x\x00y"},
            b"\x00not a record\x00\x00\x1breplicast:not json\x00", {"type": "done", "id": "ab"},
            b"tail"]


def split(chunks: list[bytes]) -> list[bytes | dict]:
    splitter = LogSplitter()
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)]
    rest = splitter.flush()
    if rest:
        pieces.append(rest)
    merged: list[bytes | dict] = []
    for piece in pieces:  # join text that arrived in several pieces
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def test_whole_stream():
    assert split([STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_any_cutting_gives_the_same_text_and_messages_in_order(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert split(chunks) == EXPECTED


def test_text_that_only_looks_like_the_start_of_a_record_is_not_held_back():
    splitter = LogSplitter()
    assert splitter.feed(b"a\x00\x1breplicax") == [b"a\x00\x1breplicax"]


def test_the_start_of_a_record_waits_for_the_rest():
    splitter = LogSplitter()
    assert splitter.feed(b"text\x00\x1brepli") == [b"text"]
    assert splitter.feed(b'cast:{"type":"ready"}\x00more') == [{"type": "ready"}, b"more"]


def test_a_record_fits_in_one_atomic_pipe_write():
    record({"item": "x" * (PIPE_BUF - 100)})
    try:
        record({"item": "x" * PIPE_BUF})
    except ValueError:
        return
    raise AssertionError("a record longer than PIPE_BUF was made")
