"""Reading request bodies: size limits, strict JSON, and schema checks with every problem named."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator
from starlette.requests import ClientDisconnect, Request

from replicast.errors import BodyTooLarge, InvalidField, InvalidRequest, MalformedBody
from replicast.schema_errors import describe, json_type, one_per_field

_INT64 = 2**63


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise MalformedBody("The client went away before sending the whole body") from None
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, valid Unicode, no NaN or Infinity, numbers a store can hold.

    Syntax and encoding problems are ``MalformedBody`` (400); a number too large to
    keep is ``InvalidRequest`` (422) naming where it is (``input.seed``).
    """
    if not body.strip():
        raise MalformedBody("The request body is empty; send a JSON object")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"The request body is not UTF-8: {exc.reason}") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise MalformedBody(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("The request body is nested too deeply") from None
    _check_values(value)
    return value


def _check_values(value: Any) -> None:
    """Refuse what no store can keep: unpaired surrogates, integers over 64 bits, infinities."""
    problems: list[InvalidField] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not -_INT64 <= item < _INT64:
            problems.append(InvalidField(
                "number_out_of_range", path,
                f"Integers must be between {-_INT64} and {_INT64 - 1}",
            ))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(InvalidField("number_out_of_range", path,
                                         "Numbers must be finite; this one is too large"))
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), child)
                         for i, child in enumerate(item))
    if problems:
        raise InvalidRequest.from_fields(one_per_field(problems))


def _check_string(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody(
                "The request body is not valid JSON: a string holds an unpaired surrogate"
            ) from None


class BodySchema:
    """A JSON schema for a request body, reporting problems as Replicate does."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._validator = Draft7Validator(schema)
        self._check = fastjsonschema.compile(dict(schema), use_default=False)

    def check(self, value: Any) -> dict[str, Any]:
        """``value`` if it satisfies the schema; ``InvalidRequest`` naming every problem."""
        if not isinstance(value, dict):
            raise InvalidRequest.from_fields([InvalidField(
                "invalid_type", "", f"Invalid type. Expected: object, given: {json_type(value)}"
            )])
        try:
            self._check(value)
        except fastjsonschema.JsonSchemaException:
            problems = one_per_field(self._problems(value))
            if problems:
                raise InvalidRequest.from_fields(problems) from None
        return value

    def _problems(self, value: dict[str, Any]) -> Iterable[InvalidField]:
        known = self.schema.get("properties", {})
        for key in value:
            if key not in known:
                yield InvalidField("additional_property_not_allowed", "",
                                   f"Additional property {key} is not allowed")
        for error in sorted(self._validator.iter_errors(value), key=lambda e: list(e.path)):
            if error.validator != "additionalProperties":
                yield describe(error)
