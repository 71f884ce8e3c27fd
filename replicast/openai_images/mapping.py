"""An OpenAI images request onto a model's own inputs, read from the model's schema.

No model is special-cased: each OpenAI field goes to the input the schema offers for
it (the table is in ``docs/api.md#openai-images-api``), fields the schema has no input
for are refused or, where OpenAI treats them as hints, ignored, and any other body
field that names one of the model's inputs is passed on as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from replicast.models.file_inputs import file_inputs
from replicast.models.schema_refs import input_properties, resolve
from replicast.openai_images.errors import ImageRequestRefused
from replicast.openai_images.sizes import size_inputs

COUNT_INPUTS = ("num_outputs", "number_of_images", "num_images", "batch_size")
"""Integer inputs that say how many images one prediction makes."""
IMAGE_INPUTS = ("input_images", "images", "input_image", "image")
"""File inputs that take the images to edit, in order of preference."""
HINTS = frozenset({"user", "moderation", "style", "input_fidelity"})
"""OpenAI fields accepted and ignored: they ask nothing a model's output depends on."""
OPENAI_FIELDS = frozenset({
    "model", "prompt", "n", "size", "response_format", "output_format",
    "output_compression", "quality", "background", "stream", "partial_images",
    *HINTS,
})
QUALITIES = ("auto", "low", "medium", "high", "standard", "hd")
_FAST = {"low": True, "medium": True, "high": False, "hd": False}
"""``quality`` onto a boolean ``go_fast`` input; ``auto`` and ``standard`` keep its default."""
_FORMATS = {"png": ("png",), "jpeg": ("jpg", "jpeg"), "webp": ("webp",)}


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What an images request asks, its fields checked against OpenAI's rules."""

    prompt: str
    model: str | None = None
    n: int | None = None
    size: str | None = None
    response_format: str = "url"
    output_format: str | None = None
    output_compression: int | None = None
    quality: str | None = None
    stream: bool = False
    partial_images: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Body fields that are not OpenAI's: passed on as the model's inputs of those names."""


def parse_request(body: Mapping[str, Any], *, form: bool = False) -> ImageRequest:
    """Check a request body's OpenAI fields (``form``: every value came as text)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ImageRequestRefused("prompt is required: a non-empty string", "prompt",
                                  "missing_required_parameter" if prompt is None
                                  else "invalid_value")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ImageRequestRefused("model must be a string", "model", "invalid_type")
    response_format = _choice(body, "response_format", ("url", "b64_json")) or "url"
    output_format = _choice(body, "output_format", tuple(_FORMATS))
    quality = _choice(body, "quality", QUALITIES)
    if _choice(body, "background", ("auto", "opaque", "transparent")) == "transparent":
        raise ImageRequestRefused(
            "Transparent backgrounds are not supported: these models make opaque images",
            "background")
    size = body.get("size")
    if size is not None and not isinstance(size, str):
        raise ImageRequestRefused("size must be a string such as 1024x1024", "size",
                                  "invalid_type")
    stream = body.get("stream", False)
    if form and isinstance(stream, str):
        stream = stream.strip().lower() in {"true", "1"}
    if not isinstance(stream, bool):
        raise ImageRequestRefused("stream must be a boolean", "stream", "invalid_type")
    return ImageRequest(
        prompt=prompt, model=model, size=size, response_format=response_format,
        output_format=output_format, quality=quality, stream=stream,
        n=_integer(body, "n", 1, 10, form),
        output_compression=_integer(body, "output_compression", 0, 100, form),
        partial_images=_integer(body, "partial_images", 0, 3, form) or 0,
        extra={k: v for k, v in body.items() if k not in OPENAI_FIELDS},
    )


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise ImageRequestRefused(
            f"Invalid value for {name}: {value!r}; supported values are "
            + ", ".join(repr(a) for a in allowed), name)
    return str(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int, form: bool) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if form and isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ImageRequestRefused(f"{name} must be an integer", name, "invalid_type")
    if not low <= value <= high:
        raise ImageRequestRefused(f"{name} must be between {low} and {high}", name)
    return value


def makes_images(openapi_schema: Mapping[str, Any]) -> bool:
    """Whether the model's output is a file or a list of files (``format: uri``)."""
    schemas = openapi_schema.get("components", {}).get("schemas", {})
    output = resolve(schemas.get("Output", {}), schemas)
    if output.get("type") == "array" and isinstance(output.get("items"), dict):
        output = resolve(output["items"], schemas)
    return output.get("type") == "string" and output.get("format") == "uri"


def model_input(openapi_schema: Mapping[str, Any], request: ImageRequest, *,
                images: list[str] | None = None, mask: str | None = None) -> dict[str, Any]:
    """The model's input for ``request``; ``images`` and ``mask`` are the edit's files,
    as URLs the model can read."""
    properties = input_properties(openapi_schema)
    if "prompt" not in properties:
        raise ImageRequestRefused("This model takes no prompt", "model", "invalid_model")
    found: dict[str, Any] = {"prompt": request.prompt}
    found.update(_count(properties, request.n))
    found.update(size_inputs(properties, request.size))
    if images and request.size in (None, "auto"):
        # An edit keeps its image's shape where the model can (not the default 1:1).
        for name in ("aspect_ratio", "resolution"):
            if "match_input_image" in (properties.get(name, {}).get("enum") or ()):
                found[name] = "match_input_image"
    found.update(_format(properties, request.output_format))
    if request.output_compression is not None and _typed(properties, "output_quality",
                                                         "integer"):
        found["output_quality"] = request.output_compression
    if request.quality in _FAST and _typed(properties, "go_fast", "boolean"):
        found["go_fast"] = _FAST[request.quality]
    if images:
        found.update(_images(file_inputs(openapi_schema), images))
    if mask is not None:
        if "mask" not in file_inputs(openapi_schema):
            raise ImageRequestRefused("This model takes no mask: edit without one", "mask")
        found["mask"] = mask
    for name, value in request.extra.items():
        if name not in properties or name == "prompt":
            raise ImageRequestRefused(
                f"Unrecognized request argument supplied: {name} (this model's inputs are "
                + ", ".join(properties) + ")", name, "unknown_parameter")
        found[name] = _coerce(properties[name], value)  # an input named outright wins
    return found


def _typed(properties: Mapping[str, Mapping[str, Any]], name: str, kind: str) -> bool:
    return properties.get(name, {}).get("type") == kind


def _count(properties: Mapping[str, Mapping[str, Any]], n: int | None) -> dict[str, Any]:
    if n is None:
        return {}
    for name in COUNT_INPUTS:
        prop = properties.get(name)
        if prop is not None and prop.get("type") == "integer":
            low, high = prop.get("minimum", 1), prop.get("maximum", n)
            if not low <= n <= high:
                raise ImageRequestRefused(
                    f"This model makes {low} to {high} images a request; n={n} is out of range",
                    "n")
            return {name: n}
    if n != 1:
        raise ImageRequestRefused(f"This model makes one image a request; n={n} is not "
                                  "supported (send several requests)", "n")
    return {}


def _format(properties: Mapping[str, Mapping[str, Any]], wanted: str | None) -> dict[str, Any]:
    if wanted is None:
        return {}
    offered = [c for c in properties.get("output_format", {}).get("enum", [])
               if isinstance(c, str)]
    for spelling in _FORMATS[wanted]:
        if spelling in offered:
            return {"output_format": spelling}
    raise ImageRequestRefused(
        f"This model cannot make {wanted} images"
        + (f" (it makes {', '.join(offered)})" if offered else ""), "output_format")


def _images(files: Mapping[str, bool], images: list[str]) -> dict[str, Any]:
    """The edit's images onto the model's image input: a list input takes them all, a
    single one only one image."""
    candidates = [n for n in IMAGE_INPUTS if n in files]
    candidates += [n for n in files if n not in candidates and n != "mask"]
    if not candidates:
        raise ImageRequestRefused("This model takes no input image: it cannot edit",
                                  "image", "invalid_model")
    lists = [n for n in candidates if files[n]]
    if len(images) > 1:
        if not lists:
            raise ImageRequestRefused(
                f"This model takes one input image; {len(images)} were given", "image")
        return {lists[0]: images}
    name = candidates[0]
    return {name: images if files[name] else images[0]}


def _coerce(prop: Mapping[str, Any], value: Any) -> Any:
    """A form field's text as the input's type; JSON values are kept as they are."""
    if not isinstance(value, str):
        return value
    kind = prop.get("type")
    if kind in {"integer", "number", "boolean", "array", "object"}:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value  # the schema check names the input
    return value
