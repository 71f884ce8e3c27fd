import pytest

from replicast.api.stream import Position


@pytest.mark.parametrize("value,expected", [
    (None, (0, 0)), ("", (0, 0)), ("3:14", (3, 14)), ("3:14:end", (3, 14)),
    ("²:1", (0, 0)), ("1:" + "9" * 5000, (0, 0)), ("garbage", (0, 0)), ("1690212292:0x", (0, 0)),
])
def test_last_event_id(value, expected):
    position = Position.parse(value)
    assert (position.items, position.logs) == expected
