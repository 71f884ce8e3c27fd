"""The log stream: text and marks, however the pipe cuts it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replicast.predictors.protocol import LogSplitter, Mark, mark

STREAM = (b"setup text\n" + mark("setup", 1) + mark("abc123", 2) + b"first \xc3\xa9\n"
          + mark("abc123", 3) + b"\x00not a mark\x00" + mark("idle", 4) + b"tail")
EXPECTED = [b"setup text\n", Mark("setup", 1), Mark("abc123", 2), b"first \xc3\xa9\n",
            Mark("abc123", 3), b"\x00not a mark\x00", Mark("idle", 4), b"tail"]


def split(chunks: list[bytes]) -> list[bytes | Mark]:
    splitter = LogSplitter()
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)]
    rest = splitter.flush()
    if rest:
        pieces.append(rest)
    merged: list[bytes | Mark] = []
    for piece in pieces:  # join text that arrived in several pieces
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def test_whole_stream():
    assert split([STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_any_cutting_gives_the_same_text_and_marks_in_order(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert split(chunks) == EXPECTED


def test_text_that_only_looks_like_the_start_of_a_mark_is_not_held_back():
    splitter = LogSplitter()
    assert splitter.feed(b"a\x00\x1breplicast:x y") == [b"a\x00\x1breplicast:x y"]


def test_the_start_of_a_mark_waits_for_the_rest():
    splitter = LogSplitter()
    assert splitter.feed(b"text\x00\x1brepli") == [b"text"]
    assert splitter.feed(b"cast:abc:7\x00more") == [Mark("abc", 7), b"more"]
