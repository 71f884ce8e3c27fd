"""How large an input may be kept: each string, and the whole."""

from __future__ import annotations

import pytest

from replicast.errors import InvalidInput
from replicast.predictions.input_limits import InputLimits

LIMITS = InputLimits(max_bytes=2000, max_string_bytes=100)


def refused(input) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        LIMITS.check(input)
    return {f.field: f.type for f in caught.value.fields}


def test_strings_are_measured_in_bytes_of_utf8_wherever_they_are():
    LIMITS.check({"prompt": "x" * 100, "emoji": "😀" * 25, "n": 10**30, "none": None})
    assert refused({"prompt": "x" * 101}) == {"input.prompt": "string_too_long"}
    assert refused({"emoji": "😀" * 26}) == {"input.emoji": "string_too_long"}  # 4 bytes each
    assert refused({"messages": [{"role": "user"}, {"content": ["ok", "é" * 51]}],
                    "other": {"deep": "y" * 200}}) == {
        "input.messages.1.content.1": "string_too_long", "input.other.deep": "string_too_long"}


def test_the_whole_input_is_measured_as_json():
    LIMITS.check({"parts": ["p" * 90] * 19})
    assert refused({"parts": ["p" * 90] * 25}) == {"input": "input_too_large"}
    with pytest.raises(InvalidInput) as caught:
        LIMITS.check({"parts": ["p" * 90] * 25})
    assert "2000 bytes" in caught.value.detail


def test_deep_nesting_is_walked_without_recursion():
    value: object = "z" * 101
    for _ in range(5000):
        value = [value]
    with pytest.raises(InvalidInput) as caught:
        InputLimits(max_bytes=10**6, max_string_bytes=100).check({"deep": value})
    (field,) = caught.value.fields
    assert field.field == "input.deep" + ".0" * 5000
