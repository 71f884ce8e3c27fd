"""What a catalog model refuses at create that its schema lets through.

Replicate states some limits only in descriptions ("Maximum 8 images"), and some sizes
only exist for some inputs (``custom`` needs ``width`` and ``height``). Those are
checked here, after the schema, so that the create answers a 422 naming the field
rather than a prediction failing later: too many reference images, a reference given
as a data URI that declares a type other than an image's, a size the model cannot make.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replicast.errors import InvalidField, InvalidInput
from replicast.models.catalog.record import ModelSpec

UNTYPED = "application/octet-stream"
"""What clients declare for bytes of no known type (the official Python client, for an
in-memory file): it may well be an image, so only the run can tell."""
PLACEHOLDER_SIZE = (1024, 1024)
"""Reference sizes are not known at create; the size rule is tried with this one."""


def check(spec: ModelSpec, inputs: Mapping[str, Any]) -> None:
    """Raise ``InvalidInput`` listing what ``spec``'s model cannot take in ``inputs``."""
    problems: list[InvalidField] = []
    references = spec.references
    urls = spec.reference_urls(inputs)
    if references is not None and len(urls) > references.limit:
        problems.append(InvalidField(
            "array_max_items", f"input.{references.field}",
            f"{references.field} takes at most {references.limit} images; {len(urls)} were "
            "given"))
    if references is not None:
        for index, url in enumerate(urls):
            kind = data_uri_type(url)
            if kind is not None and kind != UNTYPED and not kind.startswith("image/"):
                field = f"input.{references.field}" + (f".{index}" if references.is_list
                                                        else "")
                problems.append(InvalidField(
                    "format", field, f"The data URI holds {kind}, not an image; use jpeg, "
                    "png, gif or webp"))
    try:
        spec.size(inputs, [PLACEHOLDER_SIZE] * len(urls))
    except InvalidInput as exc:
        problems.extend(exc.fields)
    if problems:
        raise InvalidInput.from_fields(problems)


def data_uri_type(url: str) -> str | None:
    """The media type a ``data:`` URI declares (lower case), None for other URLs and for
    data URIs that declare none."""
    if not url.startswith("data:"):
        return None
    header = url[5:].split(",", 1)[0]
    kind = header.split(";", 1)[0].strip().lower()
    return kind or None
