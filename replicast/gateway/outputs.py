"""Which strings of a routed model's output are files: those its output schema declares.

With ``copy_outputs``, the files of an upstream's output are downloaded and stored here.
A file is a string where the upstream's schema (``components.schemas.Output``) declares
one: ``format: uri`` (Cog's ``Path``), alone, as the items of an array (``list[Path]``,
an iterator of them) or as an object's property, references resolved as Cog writes them
(``$ref``, ``allOf``, ``Optional`` as ``anyOf``). Every other string is text, however
much it looks like a URL, and passes through as it is: copying every URL-shaped string
would let whoever writes a model's text output make this server fetch the addresses of
their choosing and hand back what they hold as files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from replicast.models.schema_refs import resolve

_MAX_REFERENCES = 8
"""References followed in a row before a schema is taken as declaring nothing."""
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
    (list, "array"), (dict, "object"), (type(None), "null"))


class DeclaredFiles:
    """The file URLs in outputs of one model version, read with its schema."""

    def __init__(self, openapi_schema: Mapping[str, Any]) -> None:
        schemas = openapi_schema.get("components", {}).get("schemas", {})
        self._schemas: Mapping[str, Any] = schemas if isinstance(schemas, Mapping) else {}
        output = self._schemas.get("Output")
        self._output: Mapping[str, Any] = output if isinstance(output, Mapping) else {}

    def urls(self, output: Any) -> list[str]:
        """The distinct http(s) URLs in ``output`` that the schema declares files, in order."""
        found: dict[str, None] = {}

        def note(url: str) -> str:
            found[url] = None
            return url

        self._map(output, self._output, note)
        return list(found)

    def items_hold_files(self, items: list[Any]) -> bool:
        """Whether these items of an array output (an iterator's) hold declared files."""
        return bool(self.urls(items))

    def replace(self, output: Any, copies: Mapping[str, str]) -> Any:
        """``output`` with each declared file URL that ``copies`` names replaced."""
        return self._map(output, self._output, lambda url: copies.get(url, url))

    def _map(self, value: Any, schema: Any, visit: Callable[[str], str]) -> Any:
        node = self._branch(self._resolved(schema), value)
        if isinstance(value, str):
            is_file = node.get("format") == "uri" and _accepts(node, "string")
            return visit(value) if is_file and _is_url(value) else value
        if isinstance(value, list):
            items = node.get("items") if _accepts(node, "array") else None
            return [self._map(item, items, visit) for item in value]
        if isinstance(value, dict):
            properties = node.get("properties") if _accepts(node, "object") else None
            properties = properties if isinstance(properties, Mapping) else {}
            others = node.get("additionalProperties")
            return {key: self._map(item, properties.get(key, others), visit)
                    for key, item in value.items()}
        return value

    def _resolved(self, schema: Any) -> dict[str, Any]:
        """``schema`` with its references merged in, as many levels as Cog nests them."""
        node: dict[str, Any] = dict(schema) if isinstance(schema, Mapping) else {}
        for _ in range(_MAX_REFERENCES):
            if "$ref" not in node and "allOf" not in node and not _optional(node):
                return node
            node = resolve(node, self._schemas)
        return {}

    def _branch(self, node: dict[str, Any], value: Any) -> dict[str, Any]:
        """For a union (``anyOf``/``oneOf``), the one branch of the value's JSON type;
        none (nothing declared) when no branch or several could hold it."""
        branches = [*_listed(node, "anyOf"), *_listed(node, "oneOf")]
        if not branches:
            return node
        kind = next(name for cls, name in _JSON_TYPES if isinstance(value, cls))
        fitting = [b for b in map(self._resolved, branches) if _accepts(b, kind)]
        return fitting[0] if len(fitting) == 1 else {}


def _accepts(node: Mapping[str, Any], kind: str) -> bool:
    """Whether a schema node takes values of JSON type ``kind`` (no ``type``: any)."""
    declared = node.get("type")
    if declared is None:
        return True
    kinds = declared if isinstance(declared, list) else [declared]
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _optional(node: Mapping[str, Any]) -> bool:
    """Whether ``node`` is ``Optional[X]`` written as ``anyOf: [X, {"type": "null"}]``."""
    branches = [b for b in _listed(node, "anyOf")
                if not (isinstance(b, Mapping) and b.get("type") == "null")]
    return "anyOf" in node and len(branches) == 1


def _listed(node: Mapping[str, Any], key: str) -> list[Any]:
    """``node[key]`` if it is a list (an upstream's schema may be malformed), else []."""
    value = node.get(key)
    return value if isinstance(value, list) else []


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))
