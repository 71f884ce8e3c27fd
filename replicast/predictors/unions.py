"""Union inputs (``str | float``, ``list[int] | list[float]``): which member takes a value.

Cog takes unions of JSON types only, publishes them as ``anyOf``, and hands the
predictor the value as the member it picks: one of the value's own JSON type first,
then bool, int, float, str, object, then lists of those, then in the order written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UnionMember:
    """One member of a union input: a JSON type, or a list of values of it."""

    type: str
    """``boolean``, ``integer``, ``number``, ``string``, or ``object`` (a dict, or Any)."""
    repeated: bool = False

    def schema(self) -> dict[str, Any]:
        """The member's JSON schema, as Cog writes it in the input's ``anyOf``."""
        one = {"type": self.type}
        return {"type": "array", "items": one} if self.repeated else one

    def exact(self, value: Any) -> bool:
        """Whether ``value`` is of this member's own JSON type (any list, for a list)."""
        if self.repeated:
            return isinstance(value, list)
        if self.type == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, {"boolean": bool, "number": float, "string": str,
                                  "object": dict}[self.type])

    def accepts(self, value: Any) -> bool:
        """Whether this member takes ``value`` (an integer for a number, too)."""
        if self.repeated:
            return isinstance(value, list) and all(self._takes(v) for v in value)
        return self._takes(value)

    def _takes(self, value: Any) -> bool:
        if self.type == "object":
            return isinstance(value, dict)
        if self.type == "number":
            return type(value) in (int, float)
        return type(value) is {"boolean": bool, "integer": int, "string": str}[self.type]

    @property
    def rank(self) -> int:
        """Cog's order of preference: bool, int, float, str, object, then lists of them."""
        order = ("boolean", "integer", "number", "string", "object").index(self.type)
        return order + (10 if self.repeated else 0)


def union_value(members: tuple[UnionMember, ...], value: Any) -> Any:
    """``value`` as the union member that takes it, picked as Cog picks: a member of the
    value's own JSON type first, then by ``rank``, then in the order written. An
    integer taken by a ``float`` member becomes a float (3 arrives as 3.0); a whole
    float that only an integer member takes (JSON Schema lets it) becomes an int, as
    for a plain ``int`` input."""
    ranked = sorted(range(len(members)),
                    key=lambda i: (not members[i].exact(value), members[i].rank, i))
    for member in (members[i] for i in ranked):
        if member.accepts(value):
            if member.type != "number":
                return value
            return [float(v) for v in value] if member.repeated else float(value)
    whole = _whole(value)
    return value if whole is value else union_value(members, whole)


def _whole(value: Any) -> Any:
    """Whole floats as ints (3.0 -> 3), in a list too; ``value`` itself if it has none."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list) and any(isinstance(v, float) and v.is_integer() for v in value):
        return [_whole(v) for v in value]
    return value
