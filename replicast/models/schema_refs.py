"""Reading a model version's ``openapi_schema``: its inputs, with references resolved.

Cog puts each choice list in a component of its own, referenced from the property
through ``allOf: [{"$ref": ...}]``, and some generators write ``Optional[X]`` as
``anyOf: [X, {"type": "null"}]``. The validator, the web form and the command line
each need the properties with those merged in; this is the one place that does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_COMPONENTS = "#/components/schemas/"
_ABOUT_COMPONENT = frozenset({"title", "description"})


def input_properties(openapi_schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``Input`` component's properties, each with its ``$ref``/``allOf`` (and the
    one non-null branch of an ``Optional`` written as ``anyOf``) merged in; a property's
    own keys win."""
    schemas = openapi_schema.get("components", {}).get("schemas", {})
    properties = schemas.get("Input", {}).get("properties", {})
    return {name: resolve(prop, schemas) for name, prop in properties.items()
            if isinstance(prop, dict)}


def required_inputs(openapi_schema: Mapping[str, Any]) -> set[str]:
    """The names of the inputs a prediction must give."""
    schemas = openapi_schema.get("components", {}).get("schemas", {})
    return {str(name) for name in schemas.get("Input", {}).get("required", [])}


def resolve(prop: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """One property with what it references merged in (one level, as Cog writes them).

    A referenced component's ``title`` and ``description`` describe the component (Cog
    titles a choice list after the input and describes it as "An enumeration."), not
    the input, so they are not taken.
    """
    merged: dict[str, Any] = {}
    parts = [prop, *prop.get("allOf", [])]
    branches = [p for p in prop.get("anyOf", [])
                if isinstance(p, dict) and p.get("type") != "null"]
    if len(branches) == 1:  # Optional[X]; a true union keeps its anyOf, and no one type
        parts.append(branches[0])
    for part in parts:
        ref = part.get("$ref") if isinstance(part, dict) else None
        if isinstance(ref, str) and ref.startswith(_COMPONENTS):
            target = schemas.get(ref.removeprefix(_COMPONENTS), {})
            if isinstance(target, dict):
                merged = {**{k: v for k, v in target.items() if k not in _ABOUT_COMPONENT},
                          **merged}
        if isinstance(part, dict):
            dropped = {"allOf", "$ref"} | ({"anyOf"} if len(branches) == 1 else set())
            merged.update({k: v for k, v in part.items()
                           if k not in dropped and k not in merged})
    return merged
