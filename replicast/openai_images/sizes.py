"""OpenAI's ``size`` (``WxH`` or ``auto``) onto the size inputs a model's schema offers.

In order of preference: exact ``width``/``height`` integer inputs (with ``aspect_ratio``
set to ``custom`` where the model has that choice), when the size is within their
bounds; else the nearest ``aspect_ratio`` choice (within 10 %) and the nearest
megapixels choice (``megapixels``, ``output_megapixels``, ``resolution``: choices such
as ``1``, ``0.25`` or ``1 MP``). A size no input can express is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from replicast.openai_images.errors import ImageRequestRefused

_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
_RATIO = re.compile(r"([1-9][0-9]*):([1-9][0-9]*)")
_MEGAPIXELS = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:MP)?", re.IGNORECASE)
MEGAPIXEL_INPUTS = ("megapixels", "output_megapixels", "resolution")
"""The names of inputs whose choices are image areas in megapixels."""
RATIO_TOLERANCE = 1.10
"""How far (as a factor) the nearest aspect ratio offered may be from the one asked."""


def parse_size(size: str) -> tuple[int, int]:
    """``WxH`` as ``(width, height)``; refused if it is not one."""
    found = _SIZE.fullmatch(size)
    if found is None:
        raise ImageRequestRefused(
            f"Invalid size {size!r}: give WIDTHxHEIGHT in pixels (such as 1024x1024) or auto",
            "size")
    return int(found[1]), int(found[2])


def size_inputs(properties: Mapping[str, Mapping[str, Any]], size: str | None
                ) -> dict[str, Any]:
    """The model inputs that ask for images of ``size``; none for ``auto`` or no size."""
    if size is None or size == "auto":
        return {}
    width, height = parse_size(size)
    ratios = _choices(properties.get("aspect_ratio"))
    exact = _exact(properties, ratios, width, height)
    if exact is not None:
        return exact
    offered = {name: value for name in ratios if (value := _ratio(name)) is not None}
    if not offered:
        raise ImageRequestRefused(_cannot(size, properties), "size")
    wanted = width / height
    best = min(offered, key=lambda name: abs(math.log(offered[name] / wanted)))
    if abs(math.log(offered[best] / wanted)) > math.log(RATIO_TOLERANCE):
        raise ImageRequestRefused(
            f"This model cannot make {size} images: the nearest aspect ratio it offers is "
            f"{best} (it offers {', '.join(offered)})", "size")
    found: dict[str, Any] = {"aspect_ratio": best}
    area = width * height / 1e6
    for name in MEGAPIXEL_INPUTS:
        areas = {c: a for c in _choices(properties.get(name))
                 if (a := _megapixels(c)) is not None}
        if areas:
            found[name] = min(areas, key=lambda c: abs(math.log(areas[c] / area)))
            break
    return found


def _exact(properties: Mapping[str, Mapping[str, Any]], ratios: list[str], width: int,
           height: int) -> dict[str, Any] | None:
    """Plain ``width``/``height`` when the model takes them for this size, else None."""
    w, h = properties.get("width"), properties.get("height")
    if w is None or h is None or w.get("type") != "integer" or h.get("type") != "integer":
        return None
    if ratios and "custom" not in ratios:
        return None
    if not (_within(w, width) and _within(h, height)):
        return None
    return {**({"aspect_ratio": "custom"} if ratios else {}), "width": width, "height": height}


def _within(prop: Mapping[str, Any], value: int) -> bool:
    low, high = prop.get("minimum"), prop.get("maximum")
    return (low is None or value >= low) and (high is None or value <= high)


def _cannot(size: str, properties: Mapping[str, Mapping[str, Any]]) -> str:
    w, h = properties.get("width"), properties.get("height")
    if w is not None and h is not None:
        return (f"This model cannot make {size} images: width must be "
                f"{w.get('minimum', 1)} to {w.get('maximum', 'any')} and height "
                f"{h.get('minimum', 1)} to {h.get('maximum', 'any')}")
    return f"This model cannot make {size} images: it takes no size (use size=auto)"


def _choices(prop: Mapping[str, Any] | None) -> list[str]:
    if prop is None:
        return []
    return [c for c in prop.get("enum", []) if isinstance(c, str)]


def _ratio(choice: str) -> float | None:
    found = _RATIO.fullmatch(choice)
    return None if found is None else int(found[1]) / int(found[2])


def _megapixels(choice: str) -> float | None:
    found = _MEGAPIXELS.fullmatch(choice.strip())
    return None if found is None or float(found[1]) <= 0 else float(found[1])
