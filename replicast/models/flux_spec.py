"""The FLUX.1 names and size rules the diffusers runner (``flux.py``) reads.

They live in the catalog (``catalog/flux1.py``, ``catalog/kontext.py``); this module
keeps the one import the runner and its tests have used, until they read the catalog
directly.
"""

from __future__ import annotations

from typing import Any

from replicast.models import catalog
from replicast.models.catalog.flux1 import (
    ASPECT_RATIOS,
    DEV,
    IMG2IMG_MAX_SIDE,
    SCHNELL,
    SIZE_MULTIPLE,
    flux_size,
    img2img_size,
)
from replicast.models.catalog.kontext import (
    KONTEXT_ASPECT_RATIOS,
    KONTEXT_PRO,
    KONTEXT_RATIO_CHOICES,
    KONTEXT_RESOLUTIONS,
    closest_kontext_resolution,
    kontext_size,
)

__all__ = ["ASPECT_RATIOS", "DEV", "IMG2IMG_MAX_SIDE", "KONTEXT_ASPECT_RATIOS", "KONTEXT_PRO",
           "KONTEXT_RATIO_CHOICES", "KONTEXT_RESOLUTIONS", "SCHNELL", "SIZE_MULTIPLE",
           "closest_kontext_resolution", "flux_size", "img2img_size", "kontext_size",
           "schemas"]


def schemas() -> dict[str, dict[str, Any]]:
    """Each catalog model's ``openapi_schema``, by ``owner/name``."""
    return catalog.schemas()
