import pytest

from replicast import times
from replicast.api.pagination import NEXT, PREVIOUS, decode_cursor, encode_cursor
from replicast.errors import InvalidRequest


@pytest.mark.parametrize("direction", [NEXT, PREVIOUS])
def test_cursors_round_trip(direction):
    position = (times.parse_rfc3339("2026-01-02T03:04:05.123456Z"), "abcdefghjkmnpqrstvwxyz0123")
    cursor = encode_cursor(direction, position)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == (direction, position)


@pytest.mark.parametrize("cursor", ["", "x", "!!!!", "bnVsbA", "WyJxIiwiMjAyNiIsIngiXQ",
                                    encode_cursor(NEXT, (times.now(), "a"))[:-3],
                                    # ["n", null, ""]: a date that is not a string was a 500
                                    "WyJuIixudWxsLCIiXQ"])
def test_foreign_cursors_are_refused(cursor):
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(cursor)
    assert caught.value.fields[0].field == "cursor"
