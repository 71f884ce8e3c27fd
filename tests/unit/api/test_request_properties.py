"""Property tests: any header or query value the API parses is either understood or refused
with a client error naming it; nothing else ever comes out of the parsing."""

from __future__ import annotations

import base64
from datetime import UTC, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from replicast import times
from replicast.accounts.account import hash_token, parse_authorization
from replicast.api.headers import (
    MAX_DEADLINE,
    MAX_WAIT,
    MIN_DEADLINE,
    parse_cancel_after,
    parse_prefer,
)
from replicast.api.pagination import NEXT, PREVIOUS, decode_cursor, encode_cursor
from replicast.errors import InvalidRequest, Unauthenticated
from tests.support.fuzzing import encodings, json_values, wild_text

MANY = settings(max_examples=500, deadline=None, derandomize=True, database=None)
# What a server reads from a header: its bytes as Latin-1 (what Starlette does).
header_text = st.text(st.characters(max_codepoint=0xFF), max_size=40)
digits = st.text("0123456789", min_size=1, max_size=30)
prefer_values = st.one_of(
    header_text, wild_text,
    st.builds(lambda n, sep: f"wait{sep}{n}", digits, st.sampled_from(["=", " = ", "=\""])),
    st.builds(lambda a, b: f"{a}, {b}", header_text, header_text),
)
duration_values = st.one_of(
    header_text, wild_text, digits,
    st.builds(lambda parts: "".join(parts),
              st.lists(st.builds(lambda n, u: n + u, digits, st.sampled_from("hmsdHMS ")),
                       max_size=4)),
)


@MANY
@given(value=prefer_values)
def test_any_prefer_is_a_wait_or_refused_naming_the_header(value):
    try:
        wait = parse_prefer(value)
    except InvalidRequest as error:
        assert [f.field for f in error.fields] == ["Prefer"]
        return
    assert wait is None or 1 <= wait <= MAX_WAIT


@MANY
@given(value=duration_values)
def test_any_cancel_after_is_a_deadline_or_refused_naming_the_header(value):
    try:
        deadline = parse_cancel_after(value)
    except InvalidRequest as error:
        assert [f.field for f in error.fields] == ["Cancel-After"]
        return
    assert deadline is not None and MIN_DEADLINE <= deadline <= MAX_DEADLINE


@MANY
@given(value=header_text | st.builds(lambda s, t: f"{s} {t}",
                                     st.sampled_from(["Bearer", "token", "Basic", ""]),
                                     header_text))
def test_any_authorization_is_a_token_or_unauthenticated(value):
    try:
        token = parse_authorization(value)
    except Unauthenticated:
        return
    assert token and token == token.strip()
    assert len(hash_token(token)) == 64


def _cursor(value: object) -> str:
    raw = next(encodings(value))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


cursors = st.one_of(
    wild_text, header_text,
    # Base64 of JSON shaped like ours or not, the parts anything.
    st.lists(json_values, min_size=3, max_size=3).map(_cursor),
    st.tuples(st.sampled_from([NEXT, PREVIOUS]), json_values, json_values).map(
        lambda parts: _cursor(list(parts))),
    st.dictionaries(wild_text, json_values, min_size=3, max_size=3).map(_cursor),
    json_values.map(_cursor),
)


@MANY
@given(cursor=cursors)
def test_any_cursor_is_a_position_or_refused_naming_it(cursor):
    try:
        direction, (created_at, item_id) = decode_cursor(cursor)
    except InvalidRequest as error:
        assert [f.field for f in error.fields] == ["cursor"]
        return
    assert direction in (NEXT, PREVIOUS) and isinstance(item_id, str)
    assert created_at.tzinfo is not None
    assert decode_cursor(encode_cursor(direction, (created_at, item_id))) == \
        (direction, (created_at, item_id))


dates = st.one_of(
    wild_text, header_text,
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.builds(lambda d, zone: d.isoformat() + zone, st.datetimes(),
              st.sampled_from(["Z", "z", "+00:00", "-23:59", "+14:00", "+24:00", " ", ""])),
)


@MANY
@given(text=dates)
def test_any_created_after_is_an_instant_or_a_value_error(text):
    """``created_after`` and ``created_before``: an instant a store can compare, or refused."""
    try:
        instant = times.parse_rfc3339(text)
    except ValueError:
        return
    assert instant.utcoffset() == timedelta(0)
    assert times.parse_rfc3339(times.format_rfc3339(instant)) == instant.astimezone(UTC)
