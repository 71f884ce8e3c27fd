"""JSON-schema errors in the words of Replicate's API.

Replicate reports each problem as ``{"type", "field", "description"}`` with the
messages of the JSON-schema library behind its API (``Invalid type. Expected:
integer, given: string``, ``Must be less than or equal to 4``, ``prompt is
required``). This module turns a ``jsonschema`` error into that shape.
"""

from __future__ import annotations

from collections.abc import Iterable

from jsonschema.exceptions import ValidationError

from replicast.errors import InvalidField


def one_per_field(problems: Iterable[InvalidField]) -> list[InvalidField]:
    """Problems sorted by field, one per value: a wrong type hides the value's other problems.

    ``null`` given for an enum would otherwise be reported twice, as the wrong type
    and as not one of the choices. Missing and unknown properties are each kept.
    """
    kept: dict[tuple[str, str], InvalidField] = {}
    for problem in problems:
        about_object = problem.type in {"required", "additional_property_not_allowed"}
        key = (problem.field, problem.description if about_object else "")
        current = kept.get(key)
        if current is None or (problem.type == "invalid_type" != current.type):
            kept[key] = problem
    return [kept[key] for key in sorted(kept)]


def json_type(value: object) -> str:
    """The JSON type name of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _missing_property(error: ValidationError) -> str:
    # jsonschema says "'name' is a required property"; the name is its repr.
    message = str(error.message)
    return message[1 : message.index(message[0], 1)] if message[:1] in "'\"" else message


def describe(error: ValidationError, root: str = "") -> InvalidField:
    """One problem as an ``InvalidField``; ``root`` prefixes field paths (``input``).

    Under a root, a missing property is reported at its own path
    (``input.prompt``); at the top of a request body, at the object's
    (``""``), as Replicate's API does.
    """
    parts = [str(part) for part in error.absolute_path]
    field = ".".join([root, *parts] if root else parts)
    keyword = str(error.validator)
    expected = error.validator_value
    if keyword == "required":
        missing = _missing_property(error)
        if root:
            field = f"{field}.{missing}"
        return InvalidField("required", field, f"{missing} is required")
    if keyword == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join([k for k in kinds if k != "null"] + (["null"] if "null" in kinds
                                                                    else []))
        return InvalidField(
            "invalid_type", field,
            f"Invalid type. Expected: {wanted}, given: {json_type(error.instance)}",
        )
    if keyword == "enum":
        allowed = ", ".join('"' + str(v) + '"' for v in expected if v is not None)
        subject = ".".join(parts) or "(root)"
        return InvalidField("enum", field, f"{subject} must be one of the following: {allowed}")
    messages = {
        "minimum": ("number_gte", f"Must be greater than or equal to {_number(expected)}"),
        "maximum": ("number_lte", f"Must be less than or equal to {_number(expected)}"),
        "exclusiveMinimum": ("number_gt", f"Must be greater than {_number(expected)}"),
        "exclusiveMaximum": ("number_lt", f"Must be less than {_number(expected)}"),
        "minLength": ("string_gte", f"String length must be greater than or equal to {expected}"),
        "maxLength": ("string_lte", f"String length must be less than or equal to {expected}"),
        "pattern": ("pattern", f"Does not match pattern '{expected}'"),
        "format": ("format", f"Does not match format '{expected}'"),
        "minItems": ("array_min_items", f"Array must have at least {expected} items"),
        "maxItems": ("array_max_items", f"Array must have at most {expected} items"),
    }
    kind, description = messages.get(keyword, (keyword, error.message))
    return InvalidField(kind, field, description)
