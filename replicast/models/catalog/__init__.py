"""The FLUX catalog: every FLUX model Replicast answers for, as Replicate publishes it.

One module per family (``flux1``, ``lora``, ``kontext``, ``pro``, ``flux2``), each model a
``ModelSpec``: its name, description, inputs in order, output (one URI or an array), size
rule, reference-image input and Replicate's version id. The stand-ins, the real runners
and the registry all read the catalog, so that every way of serving a model answers the
same inputs with the same sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from replicast.models.catalog import flux1, flux2, kontext, lora, pro
from replicast.models.catalog.record import ModelSpec, References, Size

__all__ = ["SPECS", "ModelSpec", "References", "Size", "names", "reference_inputs", "schemas",
           "size", "spec"]

SPECS: dict[str, ModelSpec] = {
    s.name: s for s in (*flux1.SPECS, *lora.SPECS, *kontext.SPECS, *pro.SPECS, *flux2.SPECS)
}


def names() -> list[str]:
    """Every catalog model's ``owner/name``."""
    return list(SPECS)


def spec(model: str) -> ModelSpec:
    """The catalog's record of ``model``; ``KeyError`` if it has none."""
    return SPECS[model]


def schemas() -> dict[str, dict[str, Any]]:
    """Each catalog model's ``openapi_schema``, by ``owner/name``."""
    return {name: s.openapi_schema() for name, s in SPECS.items()}


def size(model: str, inputs: Mapping[str, Any], reference_sizes: Sequence[Size]) -> Size:
    """The ``(width, height)`` ``model`` makes for validated ``inputs`` and its reference
    images' sizes, in input order."""
    return SPECS[model].size(inputs, reference_sizes)


def reference_inputs(model: str) -> list[str]:
    """The names of the inputs that hold ``model``'s reference images."""
    references = SPECS[model].references
    return [] if references is None else [references.field]
