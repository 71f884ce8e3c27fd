"""Reading request bodies: size limits, strict JSON, and schema checks with every problem named."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import fastjsonschema
import orjson
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


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, valid Unicode, no NaN or Infinity, and a shape a store can keep.

    Syntax and encoding problems are ``MalformedBody`` (400). Integers beyond 64 bits,
    nesting deeper than ``MAX_DEPTH`` and more than ``MAX_VALUES`` values are
    ``InvalidRequest`` (422), naming where they are when that helps (``input.seed``).
    """
    if not body.strip():
        raise MalformedBody("The request body is empty; send a JSON object")
    try:
        # orjson refuses what JSON does not allow (NaN, Infinity, unpaired surrogates,
        # invalid UTF-8) and parses ten times faster than the standard library.
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"The request body is not valid JSON: {exc}") from None
    return keepable(value, body)


def keepable(value: Any, text: bytes | str, field: str = "") -> Any:
    """``value``, parsed by orjson from ``text``, if a store can keep it as sent: the
    rules of ``parse_json``. ``InvalidRequest`` otherwise, its paths under ``field``."""
    if _needs_a_closer_look(value):
        _refuse_what_cannot_be_kept(value, field)
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_NUMBER.search(raw):
        # orjson reads an integer below -2**63, or from 2**64 up, as a rounded float that
        # would be kept as if sent: read the text again with exact integers to find them.
        # (Nesting is within MAX_DEPTH by now, so the standard library cannot recurse deep.)
        exact = json.loads(text)
        if _needs_a_closer_look(exact):
            _refuse_what_cannot_be_kept(exact, field)
    return value


MAX_DEPTH = 64
MAX_VALUES = 100_000
# Where an integer that orjson cannot hold exactly might be: 19 digits in a row.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _needs_a_closer_look(value: Any) -> bool:
    """One quick pass: whether anything is too deep, too many or too large."""
    stack = [(value, 0)]
    count = 1
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            count += len(item)
            if depth >= MAX_DEPTH or count > MAX_VALUES:
                return True
            children = item.values() if kind is dict else item
            stack.extend((child, depth + 1) for child in children)
        elif kind is int and not -_INT64 <= item < _INT64:
            return True
    return False


def _refuse_what_cannot_be_kept(value: Any, field: str) -> None:
    """Walk again, slowly, to say where the problems are; always raises."""
    problems: list[InvalidField] = []
    count = 1
    stack: list[tuple[str, Any, int]] = [(field, value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, dict | list):
            count += len(item)
            if count > MAX_VALUES:
                raise InvalidRequest.from_fields([InvalidField(
                    "too_many_values", field,
                    f"{field or 'A body'} may hold at most {MAX_VALUES} JSON values")])
            if depth >= MAX_DEPTH:
                raise InvalidRequest.from_fields([InvalidField(
                    "too_deep", path, f"Values may be nested at most {MAX_DEPTH} levels deep")])
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            # By depth, not by path: under a key "" at the top the path is "" too.
            stack.extend((f"{path}.{key}" if depth or field else str(key), child, depth + 1)
                         for key, child in pairs)
        elif isinstance(item, int) and not isinstance(item, bool) \
                and not -_INT64 <= item < _INT64:
            problems.append(InvalidField("number_out_of_range", path,
                                         f"Integers must be between {-_INT64} and {_INT64 - 1}"))
    raise InvalidRequest.from_fields(one_per_field(problems))


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
        except fastjsonschema.JsonSchemaValueException as exc:
            problems = one_per_field(self._problems(value)) or [
                InvalidField("invalid", (exc.name or "").removeprefix("data").lstrip("."),
                             exc.message.removeprefix("data."))]
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
