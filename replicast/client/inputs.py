"""``-i key=value`` into a model's input, typed by the model's input schema.

A value takes the type of its property in the schema: ``-i seed=42`` is an integer
for an integer input, ``-i prompt=42`` stays a string for a string one. Properties
the schema does not describe are read as JSON would (integers, numbers, ``true`` and
``false``, arrays and objects), else kept as strings. ``key=@path`` is a local file,
and so is an existing path given to a ``format: uri`` input; both are uploaded with
the Files API before the prediction is created (``LocalFile`` marks them until then).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replicast.client.connection import ClientError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_INTEGER = re.compile(r"[+-]?[0-9]+$")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|data:")
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file on this machine, to upload and replace by its URL."""

    path: Path


def output_schema(openapi_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A model version's output schema, ``{}`` when it has none."""
    found = openapi_schema.get("components", {}).get("schemas", {}).get("Output", {})
    return found if isinstance(found, dict) else {}


def parse_assignment(text: str) -> tuple[str, str]:
    """``key=value`` as its two parts."""
    key, equals, value = text.partition("=")
    if not equals or not _KEY.match(key.strip()):
        raise ClientError(f"-i {text!r}: expected key=value, like -i prompt=\"a boat\"",
                          exit_code=2)
    return key.strip(), value


def build_input(assignments: Sequence[str],
                properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The input the ``-i`` assignments make; local files as ``LocalFile``."""
    result: dict[str, Any] = {}
    for text in assignments:
        key, raw = parse_assignment(text)
        prop = properties.get(key)
        value = typed_value(key, raw, prop)
        if key not in result:
            result[key] = value
        elif prop is not None and prop.get("type") == "array":
            result[key] = [*result[key], *value]
        else:
            raise ClientError(f"-i {key} is given more than once", exit_code=2)
    return result


def typed_value(key: str, raw: str, prop: Mapping[str, Any] | None) -> Any:
    """One value, as its property's type has it."""
    if raw.startswith("@"):
        file = local_file(key, raw[1:], given=raw)
        return [file] if prop is not None and prop.get("type") == "array" else file
    if prop is None:
        return guess(raw)
    kind = prop.get("type")
    if kind == "array":
        if raw.lstrip().startswith("["):
            return _json(key, raw, list)
        items = prop.get("items")
        return [typed_value(key, raw, items if isinstance(items, dict) else {})]
    if kind == "object":
        return _json(key, raw, dict)
    convert = _CONVERSIONS.get(kind) if isinstance(kind, str) else None
    if convert is not None:
        return convert(raw)
    if kind == "string" and prop.get("format") == "uri" and not _URL.match(raw):
        return local_file(key, raw, given=raw, or_url=True)
    if kind == "string":
        return raw
    return guess(raw)


def local_file(key: str, name: str, *, given: str, or_url: bool = False) -> LocalFile:
    """``name`` as a file to upload; it must exist."""
    path = Path(name).expanduser()
    if not path.is_file():
        what = "not a file" if path.exists() else "no such file"
        raise ClientError(f"-i {key}={given}: {what}{' (nor a URL)' if or_url else ''}")
    return LocalFile(path)


def guess(raw: str) -> Any:
    """A value without a schema: an integer, number, boolean, JSON array or object, or
    the string itself."""
    if _INTEGER.match(raw):
        return int(raw)
    if _NUMBER.match(raw):
        return float(raw)
    if raw in {"true", "false"}:
        return raw == "true"
    if raw[:1] in {"[", "{"}:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


def _integer(raw: str) -> Any:
    # A fraction goes as the number it is, so the server's 422 says "number", not "string".
    return _number(raw)


def _number(raw: str) -> Any:
    text = raw.strip()
    if _INTEGER.match(text):
        return int(text)
    return float(text) if _NUMBER.match(text) else raw


def _boolean(raw: str) -> Any:
    return _BOOLEANS.get(raw.strip().lower(), raw)


# A value that does not fit its type is sent as it is: the server's 422 names the field.
_CONVERSIONS: dict[str, Callable[[str], Any]] = {
    "integer": _integer, "number": _number, "boolean": _boolean}


def _json(key: str, raw: str, kind: type) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, kind):
        name = "array" if kind is list else "object"
        raise ClientError(f"-i {key}: expected a JSON {name}, got {raw!r}", exit_code=2)
    return value


def files_in(value: Any) -> list[LocalFile]:
    """The local files an input holds."""
    if isinstance(value, LocalFile):
        return [value]
    if isinstance(value, list):
        return [file for item in value for file in files_in(item)]
    if isinstance(value, dict):
        return [file for item in value.values() for file in files_in(item)]
    return []


def replace_files(value: Any, urls: Mapping[Path, str]) -> Any:
    """``value`` with every ``LocalFile`` replaced by its uploaded URL."""
    if isinstance(value, LocalFile):
        return urls[value.path]
    if isinstance(value, list):
        return [replace_files(item, urls) for item in value]
    if isinstance(value, dict):
        return {key: replace_files(item, urls) for key, item in value.items()}
    return value
