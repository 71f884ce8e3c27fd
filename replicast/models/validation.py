"""Checking a prediction's input against its model's schema.

Every problem is reported, each as an ``InvalidField`` whose ``type`` and
``description`` follow the JSON-schema messages Replicate's API returns
(``input.seed: Invalid type. Expected: integer, given: string``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import fastjsonschema
from jsonschema import Draft7Validator, FormatChecker

from replicast.errors import InvalidField, InvalidInput
from replicast.models.schema_refs import resolve
from replicast.schema_errors import describe, one_per_field


def _is_input_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if value.startswith("data:"):
        return "," in value
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("uri")(_is_input_uri)


InputCheck = Callable[[Mapping[str, Any]], None]
"""A model's own rule on input the schema passed (defaults filled in); it raises
``InvalidInput`` naming each field it refuses."""


class InputValidator:
    """Validates inputs for one model version and fills in defaults."""

    def __init__(self, openapi_schema: Mapping[str, Any],
                 check: InputCheck | None = None, *, null_inputs: bool = True) -> None:
        """``null_inputs``: whether an explicit null is a value of a ``nullable`` input."""
        self._model_check = check
        components = openapi_schema["components"]["schemas"]
        self.schema = _plain_schema(components["Input"], components, null_inputs)
        self.properties: dict[str, Any] = self.schema.get("properties", {})
        self._validator = Draft7Validator(self.schema, format_checker=_FORMATS)
        # Compiled to Python code: ~25x faster. It decides; jsonschema explains.
        self._check = fastjsonschema.compile(self.schema, formats={"uri": _is_input_uri},
                                             use_default=False)

    def validate(self, value: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The input with defaults filled in, and the names of unknown keys it dropped.

        Raises ``InvalidInput`` listing every problem.
        """
        try:
            self._check(value)
        except fastjsonschema.JsonSchemaValueException as exc:
            problems = one_per_field(
                describe(error, "input") for error in self._validator.iter_errors(value)
            ) or [InvalidField("invalid", "input." + (exc.name or "").removeprefix("data."),
                               exc.message.removeprefix("data."))]
            raise InvalidInput.from_fields(problems) from None
        inputs, unknown = self.fill_defaults(value)
        too_large = [InvalidField("number_out_of_range", f"input.{name}",
                                  f"Must be an integer between {-_INT64} and {_INT64 - 1}")
                     for name, given in inputs.items()
                     if isinstance(given, int) and not isinstance(given, bool)
                     and not -_INT64 <= given < _INT64]
        if too_large:
            raise InvalidInput.from_fields(too_large)
        if self._model_check is not None:
            self._model_check(inputs)
        return inputs, unknown

    def fill_defaults(self, value: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The input (already valid) with defaults filled in, and its unknown keys."""
        known = {k: _normalize(v, self.properties[k]) for k, v in value.items()
                 if k in self.properties}
        for name, prop in self.properties.items():
            if name not in known and "default" in prop:
                known[name] = copy.deepcopy(prop["default"])
            elif name not in known and prop.get("nullable"):
                known[name] = None
        unknown = [k for k in value if k not in self.properties]
        return known, unknown


def _plain_schema(schema: Mapping[str, Any], components: Mapping[str, Any],
                  null_inputs: bool = True) -> dict[str, Any]:
    """The Input schema with enum references inlined and, with ``null_inputs``, OpenAPI's
    nullable as JSON schema. Without, ``nullable`` only means that an input left out is
    None: JSON Schema, as Cog validates with it, knows no ``nullable``."""
    plain = copy.deepcopy(dict(schema))
    for name, given in plain.get("properties", {}).items():
        branches = [b for b in given.get("anyOf", []) if isinstance(b, dict)]
        if len([b for b in branches if b.get("type") != "null"]) > 1:
            continue  # a true union: JSON Schema checks it as it is
        prop = resolve(given, components)
        if any(b.get("type") == "null" for b in branches):
            prop["nullable"] = True  # Optional[X] written as anyOf: [X, null]
        if prop.get("nullable") and null_inputs:
            kinds = prop.get("type")
            if isinstance(kinds, str):
                prop["type"] = [kinds, "null"]
            if "enum" in prop and None not in prop["enum"]:
                prop["enum"] = [*prop["enum"], None]
        plain["properties"][name] = prop
    return plain


_INT64 = 2**63


def _normalize(value: Any, prop: Mapping[str, Any]) -> Any:
    """Integral floats given for integer inputs become ints (1.0 -> 1)."""
    kinds = prop.get("type")
    wants_integer = kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds)
    if wants_integer and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
