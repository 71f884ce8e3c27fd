"""Hypothesis strategies for what clients can send: any JSON value, and worse, as text or bytes.

``json_values`` go beyond JSON on purpose: NaN and the infinities, integers past 64 bits,
lone surrogates and NULs in strings. ``encodings`` turns a value into the bytes a client
could put on the wire, standard or not, so a test can check what the parser makes of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

# Every code point, lone surrogates included, and the strings that have broken parsers.
wild_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\udfff", "x\ud83d", "\ufeff", "\u2028",
                     "²", "٣", "NaN", "Infinity", "-0", "1e309", " ", "\r\n", "null"]),
)
wild_integers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
                     2**64, 10**100, -(10**400)]),
)
wild_floats = st.one_of(
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.5, 1.0, 1e308, 5e-324, 2.0**63]),
)
scalars = st.none() | st.booleans() | wild_integers | wild_floats | wild_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(wild_text, inner, max_size=4),
    max_leaves=16,
)


def objects_over(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly ``names`` (a schema's properties), with any values."""
    keys = st.sampled_from(names) | wild_text if names else wild_text
    return st.dictionaries(keys, json_values, max_size=6)


def typed_inputs(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped by an input schema: its properties, mostly with values of their type
    near or beyond their bounds, sometimes anything at all; required ones mostly there."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    values = {name: st.one_of(_typed(prop), _typed(prop), _typed(prop), json_values)
              for name, prop in properties.items()}
    return st.fixed_dictionaries(
        {k: v for k, v in values.items() if k in required},
        optional={k: v for k, v in values.items() if k not in required},
    ).flatmap(lambda value: st.one_of(
        st.just(value), st.builds(lambda extra: {**value, **extra}, objects_over([]))))


def _typed(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    kinds = prop.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    low, high = prop.get("minimum"), prop.get("maximum")
    options: list[st.SearchStrategy[Any]] = []
    if "enum" in prop:
        options.append(st.sampled_from(prop["enum"]))
    if "integer" in kinds:
        options.append(st.integers(None if low is None else int(low) - 2,
                                   None if high is None else int(high) + 2))
    if "number" in kinds:
        options.append(st.floats(None if low is None else low - 1,
                                 None if high is None else high + 1, allow_nan=False,
                                 allow_infinity=False))
    if "string" in kinds:
        options.append(st.sampled_from(["data:,x", "https://example.com/a.png", "/etc/passwd"])
                       if prop.get("format") == "uri" else st.text(max_size=20) | wild_text)
    if "boolean" in kinds:
        options.append(st.booleans())
    if "null" in kinds:
        options.append(st.none())
    return st.one_of(options) if options else json_values


def encodings(value: Any) -> Iterator[bytes]:
    """Ways a client could encode ``value``: escaped ASCII, raw UTF-8 with surrogates
    passed through (not valid UTF-8), and with NaN and Infinity written out."""
    text = json.dumps(value, allow_nan=True)
    yield text.encode("ascii")
    yield json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def is_utf8(raw: bytes) -> bool:
    """Whether ``raw`` is valid UTF-8 (surrogates passed through are not)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_standard_json(value: Any) -> bool:
    """Whether ``value`` is plain JSON a strict parser keeps: finite numbers, 64-bit
    integers and valid Unicode."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return all(is_standard_json(v) for v in value)
    return all(is_standard_json(k) and is_standard_json(v) for k, v in value.items())


def names_a_place(kind: str, field: str, value: Any) -> bool:
    """Whether a problem of type ``kind`` names a place in ``value``: where the bad value
    is, or for a missing property, the object it is missing from."""
    return resolves(field.rpartition(".")[0] if kind == "required" else field, value)


def resolves(field: str, value: Any) -> bool:
    """Whether a problem's ``field`` (``input.seed``, ``input.images.0``) is a place in
    ``value``. Keys may hold dots themselves, so every way of splitting is tried."""
    return _resolves(field.split("."), value) if field else True


def _resolves(parts: list[str], node: Any) -> bool:
    if not parts:
        return True
    for cut in range(1, len(parts) + 1):
        key = ".".join(parts[:cut])
        if isinstance(node, dict) and key in node and _resolves(parts[cut:], node[key]):
            return True
        if isinstance(node, list) and key.isdigit() and int(key) < len(node) \
                and _resolves(parts[cut:], node[int(key)]):
            return True
    return False
