from datetime import timedelta

import pytest

from replicast.api.headers import parse_cancel_after, parse_prefer
from replicast.errors import InvalidRequest


@pytest.mark.parametrize("header,seconds", [
    (None, None), ("", None), ("wait", 60.0), ("wait=1", 1.0), ("wait=60", 60.0),
    ("WAIT=5", 5.0), ("respond-async", None), ("respond-async, wait=7", 7.0),
    ("wait=10; foo=bar", 10.0), ('wait="3"', 3.0),
])
def test_prefer(header, seconds):
    assert parse_prefer(header) == seconds


@pytest.mark.parametrize("header", ["wait=0", "wait=61", "wait=abc", "wait=1.5", "wait=-1",
                                    "wait=", "wait=99999999999999999999"])
def test_prefer_out_of_range_is_refused_with_the_header_named(header):
    with pytest.raises(InvalidRequest) as caught:
        parse_prefer(header)
    assert caught.value.fields[0].field == "Prefer"
    assert "1 to 60" in caught.value.fields[0].description


@pytest.mark.parametrize("header,duration", [
    (None, None), ("5", timedelta(seconds=5)), ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)), ("1h30m45s", timedelta(hours=1, minutes=30, seconds=45)),
    ("2h", timedelta(hours=2)), ("24h", timedelta(hours=24)), (" 90s ", timedelta(seconds=90)),
])
def test_cancel_after(header, duration):
    assert parse_cancel_after(header) == duration


@pytest.mark.parametrize("header", ["", "4", "4s", "24h1s", "25h", "1d", "abc", "5 m", "m",
                                    "-5s", "1.5h", "30s5m"])
def test_cancel_after_refuses_bad_durations(header):
    with pytest.raises(InvalidRequest) as caught:
        parse_cancel_after(header)
    assert caught.value.fields[0].field == "Cancel-After"


@pytest.mark.parametrize("header", ["wait=²", "wait=" + "9" * 5000, "wait=٣"])
def test_prefer_takes_ascii_digits_only(header):
    with pytest.raises(InvalidRequest):
        parse_prefer(header)


@pytest.mark.parametrize("header", ["²", "99999999999999h", "9" * 30, "9" * 5000 + "s",
                                    "1h" + "9" * 40 + "m", "\u0663\u0660s"])
def test_cancel_after_never_overflows(header):
    with pytest.raises(InvalidRequest):
        parse_cancel_after(header)
