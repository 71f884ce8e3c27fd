"""Which of a model's inputs are files, and the file URLs a prediction's input names.

Cog types a ``Path`` or ``File`` input as a string of ``format: uri``, and a list of
them as an array of such strings (``Optional`` and references as Cog writes them). The
API counts them at a create, the worker fetches them before a run, and a predictor
gets each as a local path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replicast.models.schema_refs import input_properties, resolve


@dataclass(frozen=True, slots=True)
class NamedFile:
    """One file URL (or data URI) an input gives."""

    field: str
    """The input that gives it."""
    url: str


def file_inputs(openapi_schema: Mapping[str, Any]) -> dict[str, bool]:
    """The inputs of a Cog schema that are files (``format: uri``): name to is-a-list."""
    schemas = openapi_schema.get("components", {}).get("schemas", {})
    found = {}
    for name, prop in input_properties(openapi_schema).items():
        items = prop.get("items")
        if prop.get("format") == "uri":
            found[name] = False
        elif prop.get("type") == "array" and isinstance(items, dict) \
                and resolve(items, schemas).get("format") == "uri":
            found[name] = True
    return found


def named_files(inputs: Mapping[str, Any], files: Mapping[str, bool]) -> list[NamedFile]:
    """Every file URL ``inputs`` give in the inputs ``files`` lists, in order, as often as
    each is given."""
    named = []
    for field, is_list in files.items():
        value = inputs.get(field)
        values = value if is_list and isinstance(value, list) else [value]
        named += [NamedFile(field, url) for url in values if isinstance(url, str)]
    return named
