"""Ids and URL tokens: shaped as Replicate's, ordered by the time they were made, and
unguessable after it."""

from __future__ import annotations

from replicast import ids


def test_ids_sort_by_the_millisecond_they_were_made():
    made = [ids.ordered_id(26, now_ms=ms) for ms in
            (1_577_836_800_000, 1_700_000_000_000, 1_700_000_000_001, 2_000_000_000_000)]
    assert made == sorted(made)
    assert made[0].startswith("00000000")
    # Made in order, in one process: sorted already.
    now = [ids.prediction_id() for _ in range(50)]
    assert [i[:8] for i in now] == sorted(i[:8] for i in now)


def test_shapes_are_kept():
    assert ids.is_prediction_id(ids.prediction_id())
    assert ids.is_file_id(ids.file_id())
    token = ids.url_token()
    assert len(token) == 52 and set(token) <= set(ids.ALPHABET)


def test_what_follows_the_time_is_random():
    same_ms = {ids.ordered_id(26, now_ms=1_800_000_000_000) for _ in range(2000)}
    assert len(same_ms) == 2000
    tails = [i[8:] for i in same_ms]
    # 18 characters of 5 bits each: every character of the alphabet turns up everywhere.
    for position in range(18):
        assert len({tail[position] for tail in tails}) == 32


def test_each_millisecond_keeps_its_own_stamp():
    # The last stamp is kept for ids made in the same millisecond: going back and forth
    # between two must give each its own characters.
    first, second = 1_700_000_000_000, 1_700_000_000_001
    stamps = [ids.ordered_id(26, now_ms=ms)[:8] for ms in (first, second, first, first, second)]
    assert stamps[0] == stamps[2] == stamps[3] != stamps[1] == stamps[4]
    assert stamps[1] > stamps[0]
    # The 8 characters are the milliseconds since 2020 in base 32, most significant first.
    since = first - 1_577_836_800_000
    assert stamps[0] == "".join(ids.ALPHABET[(since >> (35 - 5 * i)) & 31] for i in range(8))
