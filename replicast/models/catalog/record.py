"""One catalog model as a record: its schema's parts, its size rule, its references."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from replicast.models.schema import InputField, cog_openapi, file_list_output, file_output

Size = tuple[int, int]
SizeRule = Callable[[Mapping[str, Any], Sequence[Size]], Size]
"""``(validated inputs, reference image sizes in input order) -> (width, height)``."""


@dataclass(frozen=True, slots=True)
class References:
    """The input that holds a model's reference images, and how many it takes."""

    field: str
    limit: int
    """At most this many; 1 for a single-image input (a string, not an array)."""
    is_list: bool


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model as Replicate publishes it, and what Replicast needs to answer for it."""

    name: str
    """``owner/name``."""
    description: str
    inputs: tuple[InputField, ...]
    """Replicate's inputs, in order (their ``x-order``, where they carry one)."""
    many_outputs: bool
    """Whether the output is an array of URIs (else one URI)."""
    size: SizeRule
    references: References | None
    version_id: str | None
    """Replicate's latest version id as far as is known (None: a digest is made)."""
    version_created_at: datetime
    runs_on: str | None = None
    """The model whose weights folder runs this one unless the operator chooses
    otherwise: itself for an open model, its base for a LoRA model; None for a closed
    model, which is a stand-in unless the operator chooses (``backends.py``)."""

    @property
    def owner(self) -> str:
        """The owner part of the name."""
        return self.name.split("/")[0]

    @property
    def short_name(self) -> str:
        """The name part of the name."""
        return self.name.split("/")[1]

    @property
    def input_names(self) -> frozenset[str]:
        """The names of the model's inputs."""
        return frozenset(f.name for f in self.inputs)

    def openapi_schema(self) -> dict[str, Any]:
        """The version's ``openapi_schema``, in Cog's shape."""
        return cog_openapi(self.inputs, file_list_output() if self.many_outputs
                           else file_output())

    def reference_urls(self, inputs: Mapping[str, Any]) -> list[str]:
        """The reference image URLs ``inputs`` give, in order."""
        if self.references is None:
            return []
        value = inputs.get(self.references.field)
        values = value if isinstance(value, list) else [value]
        return [url for url in values if isinstance(url, str) and url]

