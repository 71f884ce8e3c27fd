import pytest

from replicast.errors import InvalidRequest, MalformedBody
from replicast.http.body import BodySchema, parse_json


@pytest.mark.parametrize("raw,value", [
    (b'{"input": {}}', {"input": {}}),
    (b'{"a": 9223372036854775807, "b": -9223372036854775808}',
     {"a": 2**63 - 1, "b": -(2**63)}),
    (b'{"a": 1.5e300, "b": "\\u00e9\\ud83d\\ude00"}', {"a": 1.5e300, "b": "é😀"}),
    ('{"a": "ünïcödé"}'.encode(), {"a": "ünïcödé"}),
    (b'{"a": "12345678901234567890", "b": 0.12345678901234567890}',
     {"a": "12345678901234567890", "b": 0.12345678901234567890}),
])
def test_valid_json(raw, value):
    assert parse_json(raw) == value


@pytest.mark.parametrize("raw,words", [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"{", "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": Infinity}', "not valid JSON"),
    (b'{"a": -Infinity}', "not valid JSON"),
    (b'{"a": 1e400}', "infinity"),
    (b'[1, 2, -1e999]', "infinity"),
    (b'{"a": "\\ud800"}', "surrogate"),
    (b'{"\\udfff": 1}', "surrogate"),
    (b'\xff\xfe{}', "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
])
def test_malformed_json_is_refused_with_a_reason(raw, words):
    with pytest.raises(MalformedBody) as caught:
        parse_json(raw)
    assert words in caught.value.detail


@pytest.mark.parametrize("raw,field", [
    (b'{"input": {"seed": 9223372036854775808}}', "input.seed"),
    (b'{"input": {"list": [1, 18446744073709551615]}}', "input.list.1"),
    # orjson reads these two as rounded floats; they were once kept that way.
    (b'{"input": {"n": 18446744073709551616}}', "input.n"),
    (b'{"input": {"": -9223372036854775809}}', "input."),
    # Under a key "" at the top, the path once lost its first segment ("0").
    (b'{"": [9223372036854775808]}', ".0"),
])
def test_numbers_too_large_to_keep_are_named(raw, field):
    with pytest.raises(InvalidRequest) as caught:
        parse_json(raw)
    assert [(f.type, f.field) for f in caught.value.fields] == [("number_out_of_range", field)]


def test_nesting_is_bounded():
    deep = b'{"input": {"z": ' + b"[" * 70 + b"]" * 70 + b"}}"
    with pytest.raises(InvalidRequest) as caught:
        parse_json(deep)
    assert caught.value.fields[0].type == "too_deep"
    assert caught.value.fields[0].field.startswith("input.z.0.0")
    assert parse_json(b'{"input": {"z": ' + b"[" * 50 + b"]" * 50 + b"}}")


def test_the_number_of_values_is_bounded():
    many = b'{"input": {"z": [' + b",".join([b"0"] * 100_001) + b"]}}"
    with pytest.raises(InvalidRequest) as caught:
        parse_json(many)
    assert caught.value.fields[0].type == "too_many_values"



SCHEMA = BodySchema({
    "type": "object", "required": ["input"], "additionalProperties": False,
    "properties": {"input": {"type": "object"}, "stream": {"type": "boolean"},
                   "events": {"type": "array", "items": {"enum": ["start", "completed"]}}},
})


def test_body_schema_reports_every_problem_like_replicate():
    with pytest.raises(InvalidRequest) as caught:
        SCHEMA.check({"inptu": {}, "stream": "yes", "events": ["start", "bogus"]})
    fields = {(f.type, f.field, f.description) for f in caught.value.fields}
    assert fields == {
        ("additional_property_not_allowed", "", "Additional property inptu is not allowed"),
        ("required", "", "input is required"),
        ("invalid_type", "stream", "Invalid type. Expected: boolean, given: string"),
        ("enum", "events.1", 'events.1 must be one of the following: "start", "completed"'),
    }
    assert "input is required" in caught.value.detail


@pytest.mark.parametrize("value,given", [([], "array"), ("x", "string"), (None, "null"),
                                         (3, "integer")])
def test_body_must_be_an_object(value, given):
    with pytest.raises(InvalidRequest) as caught:
        SCHEMA.check(value)
    assert caught.value.fields[0].description == f"Invalid type. Expected: object, given: {given}"


def test_valid_body_passes_through():
    body = {"input": {"x": 1}, "stream": True}
    assert SCHEMA.check(body) is body
