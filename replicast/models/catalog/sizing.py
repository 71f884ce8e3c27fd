"""Pixel arithmetic the size rules share: ratios, areas, multiples, custom sides.

All pure: numbers in, numbers out. A size the input cannot have (a ``custom`` side
missing or out of range) raises ``InvalidInput`` naming the field, so a create is
refused with a 422 and a run fails with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from replicast.errors import InvalidField, InvalidInput

Size = tuple[int, int]

MEGAPIXEL = 1024 * 1024
"""Pixels in one "MP" of the FLUX models' size choices (1 MP is 1024x1024)."""


def nearest_multiple(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest multiple of ``multiple`` (halves up), at least one."""
    return max(multiple, math.floor(value / multiple + 0.5) * multiple)


def ratio(text: str) -> float:
    """``"16:9"`` as width over height."""
    width, _, height = text.partition(":")
    return int(width) / int(height)


def reference_ratio(references: Sequence[Size]) -> float:
    """The first reference image's width over height; square without one."""
    if not references:
        return 1.0
    width, height = references[0]
    return width / height


def area_size(aspect: float, pixels: float, multiple: int, max_side: int | None = None) -> Size:
    """The size of about ``pixels`` pixels at width/height ``aspect``, each side a
    multiple of ``multiple``; both sides scaled down together if one passes ``max_side``."""
    width, height = math.sqrt(pixels * aspect), math.sqrt(pixels / aspect)
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = width * scale, height * scale
    sides = nearest_multiple(width, multiple), nearest_multiple(height, multiple)
    if max_side is not None:
        limit = max_side // multiple * multiple
        return min(sides[0], limit), min(sides[1], limit)
    return sides


def custom_size(inputs: Mapping[str, Any], multiple: int, minimum: int, maximum: int) -> Size:
    """``width`` and ``height`` given with ``aspect_ratio: custom``, each rounded to the
    nearest multiple of ``multiple`` and kept within ``minimum``..``maximum``."""
    problems: list[InvalidField] = []
    sides: list[int] = []
    for side in ("width", "height"):
        given = inputs.get(side)
        if given is None:
            problems.append(InvalidField("required", f"input.{side}",
                                         f"{side} is required when aspect_ratio is custom"))
            continue
        rounded = nearest_multiple(given, multiple)
        if not minimum <= rounded <= maximum:
            problems.append(InvalidField(
                "number_out_of_range", f"input.{side}",
                f"{side} must be between {minimum} and {maximum} (a multiple of {multiple}); "
                f"{given} rounds to {rounded}"))
        sides.append(rounded)
    if problems:
        raise InvalidInput.from_fields(problems)
    return sides[0], sides[1]
