"""bench.segments: the cycles cut out of the notes, and the hooks' wrappers."""

from __future__ import annotations

import sys
import types

import pytest

from bench import segment_hooks
from bench.segments import STAGES, cycles, paired_ratios


def test_notes_are_cut_into_cycles_from_one_request_read_to_the_next() -> None:
    order = ["read", "handler", "create", "begin", "sql", "sql.end", "run", "sent",
             "child.command", "child.done", "done", "record", "sql", "sql.end", "recorded",
             "answer", "written"]
    notes = [(at, tag) for at, tag in enumerate(order * 2 + ["read"])]
    notes.reverse()  # from several files: sorted by time, whatever came first

    found = cycles(notes)

    assert len(found) == 2
    first = found[0]
    assert first["sql@begin"] == 4 and first["sql.end@begin"] == 5
    assert first["sql@record"] == 12 and first["sql.end@record"] == 13
    assert first["next"] == len(order) == found[1]["read"]
    assert all(first[b] > first[a] for _, a, b in STAGES)
    assert found[1]["next"] == 2 * len(order)


def test_a_request_read_in_two_pieces_starts_one_cycle() -> None:
    notes = [(0, "read"), (1, "read"), (2, "handler"), (3, "written"), (4, "read"),
             (5, "written"), (6, "read")]
    found = cycles(notes)
    assert [c["read"] for c in found] == [0, 4]
    assert found[0]["next"] == 4


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    fake = types.ModuleType("fake_for_hooks")

    class Thing:
        def double(self, x: int) -> int:
            return 2 * x

        async def triple(self, x: int) -> int:
            return 3 * x

    fake.Thing = Thing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_for_hooks", fake)
    monkeypatch.setattr(segment_hooks, "_notes", [])
    return fake


async def test_hooks_note_calls_and_returns_of_plain_and_async_methods(
        module: types.ModuleType) -> None:
    segment_hooks._wrap("fake_for_hooks", "Thing.double", enter="in", leave="out",
                        when=lambda result, args: result > 2)
    segment_hooks._wrap("fake_for_hooks", "Thing.triple", enter="a-in", leave="a-out")
    thing = module.Thing()

    assert thing.double(1) == 2  # a result "when" turns down: no note on the way out
    assert thing.double(2) == 4
    assert await thing.triple(2) == 6

    tags = [tag for tag, _ in segment_hooks._notes]
    assert tags == ["in", "in", "out", "a-in", "a-out"]
    times = [at for _, at in segment_hooks._notes]
    assert times == sorted(times)


def test_checkouts_are_compared_round_by_round() -> None:
    # The VM ran at half speed in the last two rounds: each round compares like with like.
    before = [1000.0, 1000.0, 2000.0, 2000.0]
    after = [900.0, 950.0, 1800.0, 1700.0]
    assert paired_ratios(before, after) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        paired_ratios(before, after[:3])
