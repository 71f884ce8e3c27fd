"""Union inputs: the member that takes a value, and what is refused, are Cog's."""

from __future__ import annotations

from typing import Any

import pytest
from cog import _adt as adt

from replicast.errors import InvalidInput
from replicast.models.validation import InputValidator
from replicast.predictors.signature import describe
from replicast.predictors.unions import UnionMember, union_value

UNIONS = [str | float, float | str, int | float, float | int, bool | int, int | bool | str,
          str | dict, dict | int, list[int] | list[float], list[float] | list[int],
          str | list[str], list[str] | str, int | list[int] | dict]

VALUES: list[Any] = [3, -2, 3.0, 3.5, "3", "", True, False, [1, 2], [1, 2.5], [], [True],
                     ["a"], {"a": 1}, {}]


def described(annotation: Any) -> tuple[dict[str, Any], tuple[UnionMember, ...]]:
    def run(value: str) -> str:
        return ""

    run.__annotations__["value"] = annotation
    schema, (parameter,) = describe(run)
    return schema, parameter.members


REFUSED = object()


def normalized(cog: adt.FieldType, value: Any) -> Any:
    """What Cog's Python makes of ``value``, or REFUSED. JSON Schema takes 3.0 for an
    integer, which Cog's Python does not: where only an integer member would take it, it
    arrives as 3, as it does for a plain ``int`` input."""
    for candidate in (value, int(value)) if isinstance(value, float) and value.is_integer() \
            else (value,):
        try:
            return cog.normalize(candidate)
        except ValueError:
            pass
    return REFUSED


@pytest.mark.parametrize("annotation", UNIONS, ids=str)
def test_each_value_becomes_what_cog_makes_of_it_or_is_refused_as_cog_refuses(annotation):
    schema, members = described(annotation)
    validator = InputValidator(schema, null_inputs=False)
    cog = adt.FieldType.from_type(annotation)
    for value in VALUES:
        expected = normalized(cog, value)
        if expected is REFUSED:
            with pytest.raises(InvalidInput):
                validator.validate({"value": value})
            continue
        given, _ = validator.validate({"value": value})
        got = union_value(members, given["value"])
        assert (got, type(got)) == (expected, type(expected)), value
        if isinstance(expected, list):
            assert [type(v) for v in got] == [type(v) for v in expected], value


def test_a_whole_number_for_str_or_float_arrives_as_a_float():
    _, members = described(str | float)
    assert union_value(members, 3) == 3.0 and isinstance(union_value(members, 3), float)
    assert union_value(members, "3") == "3"
    _, members = described(list[int] | list[float])
    assert union_value(members, [1, 2]) == [1, 2]
    assert [type(v) for v in union_value(members, [1, 2.5])] == [float, float]


def test_a_nullable_union_refuses_null_and_is_required_without_a_default():
    schema, _ = described(str | float | None)
    assert schema["components"]["schemas"]["Input"]["required"] == ["value"]
    with pytest.raises(InvalidInput):
        InputValidator(schema, null_inputs=False).validate({"value": None})
