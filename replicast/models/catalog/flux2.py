"""FLUX.2: [pro], [max], [flex] (closed), [dev] and the four [klein] models (open).

All take several reference images (``input_images``; ``images`` for klein) and make
sides in multiples of 16, as the FLUX.2 pipelines need. Replicate publishes no pixel
table for the presets, so Replicast's rule is Black Forest Labs' documented one: the
asked megapixels (1 MP is 1024x1024) at the asked aspect ratio, or the first
reference image's ratio with ``match_input_image``, each side rounded to a multiple of
16; [pro]/[max]/[flex] keep both sides within 2048 px. ``custom`` takes ``width`` and
``height`` rounded to the model's multiple (16; 32 for [dev], as its schema says).

``size(model, inputs, reference_sizes)`` and ``reference_inputs(model)`` are what the
FLUX.2 runners call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from replicast.models.catalog.record import ModelSpec, References, Size, SizeRule
from replicast.models.catalog.sizing import (
    MEGAPIXEL,
    area_size,
    custom_size,
    ratio,
    reference_ratio,
)
from replicast.models.schema import NO_DEFAULT, InputField

PRO = "black-forest-labs/flux-2-pro"
MAX = "black-forest-labs/flux-2-max"
FLEX = "black-forest-labs/flux-2-flex"
DEV = "black-forest-labs/flux-2-dev"
KLEIN_4B = "black-forest-labs/flux-2-klein-4b"
KLEIN_9B = "black-forest-labs/flux-2-klein-9b"
KLEIN_4B_BASE = "black-forest-labs/flux-2-klein-4b-base"
KLEIN_9B_BASE = "black-forest-labs/flux-2-klein-9b-base"

MULTIPLE = 16
MAX_SIDE = 2048
"""The largest side [pro], [max] and [flex] make (their ``resolution`` description)."""
MATCHED_MEGAPIXELS = (0.5, 4.0)
"""``resolution: match_input_image`` keeps the input's pixels, clamped to this range."""


def _shape(inputs: Mapping[str, Any], references: Sequence[Size]) -> float:
    chosen = inputs["aspect_ratio"]
    return reference_ratio(references) if chosen == "match_input_image" else ratio(chosen)


def _resolution_size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """[pro], [max] and [flex]: ``aspect_ratio`` x ``resolution``, or ``custom``."""
    if inputs["aspect_ratio"] == "custom":
        return custom_size(inputs, MULTIPLE, 256, MAX_SIDE)
    resolution = inputs["resolution"]
    if resolution != "match_input_image":
        pixels = float(resolution.removesuffix(" MP")) * MEGAPIXEL
    elif references:
        low, high = MATCHED_MEGAPIXELS
        width, height = references[0]
        pixels = min(max(width * height, low * MEGAPIXEL), high * MEGAPIXEL)
    else:
        pixels = MEGAPIXEL
    return area_size(_shape(inputs, references), pixels, MULTIPLE, MAX_SIDE)


def _dev_size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """[dev]: ``aspect_ratio`` at 1 MP, or ``custom`` in multiples of 32."""
    if inputs["aspect_ratio"] == "custom":
        return custom_size(inputs, 32, 256, 1440)
    return area_size(_shape(inputs, references), MEGAPIXEL, MULTIPLE)


def _klein_size(megapixels: str) -> SizeRule:
    """[klein]: ``aspect_ratio`` x the megapixels input (named ``megapixels``)."""
    def rule(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
        pixels = float(inputs[megapixels]) * MEGAPIXEL
        return area_size(_shape(inputs, references), pixels, MULTIPLE)

    return rule


_RATIOS = ["match_input_image", "custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16",
           "3:4", "4:3"]
_KLEIN_RATIOS = ["1:1", "16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "21:9",
                 "9:21", "match_input_image"]
_QUALITY = ("Quality when saving the output images, from 0 to 100. 100 is best quality, 0 is "
            "lowest quality. Not relevant for .png outputs")
_GO_FAST = "Run faster predictions with additional optimizations."
_IMAGES = ("List of input images for image-to-image generation. Maximum {} images. Must be "
           "jpeg, png, gif, or webp.")


def _input_images(name: str, limit: int) -> InputField:
    return InputField(name, "array", _IMAGES.format(limit), default=[],
                      items={"type": "string", "format": "uri"})


def _side(name: str, multiple: int, maximum: int, text_to_image: str) -> InputField:
    return InputField(
        name, "integer",
        f"{name.title()} of the generated image{text_to_image}. Only used when "
        f"aspect_ratio=custom. Must be a multiple of {multiple} (if it's not, it will be "
        f"rounded to nearest multiple of {multiple}).",
        default=NO_DEFAULT, minimum=256, maximum=maximum, nullable=True,
    )


def _closed_inputs(limit: int, *flex: InputField) -> tuple[InputField, ...]:
    """The inputs of [pro] and [max]; [flex] adds its own before the output's."""
    return (
        InputField("prompt", "string", "Text prompt for image generation"),
        _input_images("input_images", limit),
        InputField("aspect_ratio", "string",
                   "Aspect ratio for the generated image. Use 'match_input_image' to match "
                   "the first input image's aspect ratio.", default="1:1", choices=_RATIOS),
        InputField(
            "resolution", "string",
            "Resolution in megapixels. Up to 4 MP is possible, but 2 MP or below is "
            "recommended. The maximum image size is 2048x2048, which means that "
            "high-resolution images may not respect the resolution if aspect ratio is not "
            "1:1.\n\nResolution is not used when aspect_ratio is 'custom'. When aspect_ratio "
            "is 'match_input_image', use 'match_input_image' to match the input image's "
            "resolution (clamped to 0.5-4 MP).",
            default="1 MP", choices=["match_input_image", "0.5 MP", "1 MP", "2 MP", "4 MP"],
        ),
        _side("width", MULTIPLE, MAX_SIDE, ""),
        _side("height", MULTIPLE, MAX_SIDE, ""),
        InputField("safety_tolerance", "integer",
                   "Safety tolerance, 1 is most strict and 5 is most permissive", default=2,
                   minimum=1, maximum=5),
        InputField("seed", "integer", "Random seed. Set for reproducible generation",
                   default=NO_DEFAULT),
        *flex,
        InputField("output_format", "string", "Format of the output images.", default="webp",
                   choices=["webp", "jpg", "png"]),
        InputField("output_quality", "integer", _QUALITY, default=80, minimum=0, maximum=100),
    )


def _klein_inputs(megapixels: str, go_fast: bool, base: bool) -> tuple[InputField, ...]:
    seed = InputField("seed", "integer", "Random seed. Set for reproducible generation",
                      default=NO_DEFAULT, nullable=True)
    fast = InputField("go_fast", "boolean", _GO_FAST, default=go_fast)
    guidance = InputField(
        "guidance", "number",
        "Classifier-free guidance scale. Higher values produce images more closely related to "
        "the prompt.", default=4, minimum=1, maximum=10)
    return (
        InputField("prompt", "string", "Text prompt for image generation."),
        _input_images("images", 5),
        InputField("aspect_ratio", "string",
                   "Aspect ratio for the generated image. Use 'match_input_image' to match "
                   "the aspect ratio of the first input image.", default="1:1",
                   choices=_KLEIN_RATIOS),
        InputField(megapixels, "string",
                   "Resolution of the output image in megapixels" if megapixels ==
                   "output_megapixels" else "Resolution in megapixels",
                   default="1", choices=["0.25", "0.5", "1", "2", "4"]),
        *((fast, guidance, seed) if base else (seed, fast)),
        InputField("output_format", "string", "Format of the output images", default="jpg",
                   choices=["webp", "jpg", "png"]),
        InputField("output_quality", "integer", _QUALITY + ".", default=95, minimum=0,
                   maximum=100),
        InputField("disable_safety_checker", "boolean",
                   "Disable safety checker for generated images.", default=False),
    )


def _closed(name: str, description: str, limit: int, version_id: str,
            *flex: InputField) -> ModelSpec:
    return ModelSpec(
        name=name, description=description, inputs=_closed_inputs(limit, *flex),
        many_outputs=False, size=_resolution_size,
        references=References("input_images", limit, is_list=True), version_id=version_id,
        version_created_at=datetime(2026, 3, 28, tzinfo=UTC))


def _klein(name: str, description: str, version_id: str | None, created: datetime, *,
           megapixels: str = "output_megapixels", go_fast: bool = False,
           base: bool = False) -> ModelSpec:
    return ModelSpec(
        name=name, description=description,
        inputs=_klein_inputs(megapixels, go_fast, base), many_outputs=True,
        size=_klein_size(megapixels), references=References("images", 5, is_list=True),
        version_id=version_id, version_created_at=created, runs_on=name)


_BASE = ("FLUX.2 [klein] {} base: the undistilled model, with real classifier-free guidance, "
         "for fine-tuning and for control over outputs")

SPECS = (
    _closed(PRO, "High-quality image generation and editing with support for eight reference "
            "images", 8, "ccb5e33141097816e6fab8c895e702fe4c619e4e07500885b71214e9f6382a5c"),
    _closed(MAX, "The highest fidelity image model from Black Forest Labs", 8,
            "9c23b0aaa98765a9676dbdda58b9c9915627751300747bad54cb1c11b135d3ca"),
    _closed(
        FLEX, "Max-quality image generation and editing with support for ten reference images",
        10, "51d0412f4874be5ad0fc559a9174a33b24927cb12729d4e3abf5a4f98ba1a4bc",
        InputField("prompt_upsampling", "boolean",
                   "Automatically modify the prompt for more creative generation", default=True),
        InputField("steps", "integer", "Number of inference steps", default=30, minimum=1,
                   maximum=50),
        InputField("guidance", "number",
                   "Guidance scale for generation. Controls how closely the output follows "
                   "the prompt", default=4.5, minimum=1.5, maximum=10),
    ),
    ModelSpec(
        name=DEV,
        description="FLUX.2 [dev]: Black Forest Labs' open-weights FLUX.2, for generating and "
        "editing images with up to four reference images",
        inputs=(
            InputField("prompt", "string", "Text description of the image to generate."),
            _input_images("input_images", 4),
            InputField("go_fast", "boolean", _GO_FAST, default=True),
            InputField("aspect_ratio", "string",
                       "Aspect ratio for the generated image. Use 'match_input_image' to match "
                       "the first input image's aspect ratio.", default="1:1", choices=_RATIOS),
            _side("width", 32, 1440, " in text-to-image mode"),
            _side("height", 32, 1440, " in text-to-image mode"),
            InputField("seed", "integer", "Random seed. Set for reproducible generation.",
                       default=NO_DEFAULT),
            InputField("output_format", "string", "Format of the output images.",
                       default="webp", choices=["webp", "jpg", "png"]),
            InputField("output_quality", "integer", _QUALITY + ".", default=80, minimum=0,
                       maximum=100),
            InputField("disable_safety_checker", "boolean",
                       "Disable safety checker for generated images.", default=False),
        ),
        many_outputs=False, size=_dev_size,
        references=References("input_images", 4, is_list=True),
        version_id="7bba46bdde863cfd7aaee87649a5aa49f39f368495dbea500998d1fcbb262050",
        version_created_at=datetime(2026, 10, 5, tzinfo=UTC), runs_on=DEV,
    ),
    _klein(KLEIN_4B, "Very fast image generation and editing model. 4 steps distilled, "
           "sub-second inference for production and near real-time applications.",
           "8e9c42d77b10a2a41af823ac4500f7545be6ebc4e745830fc3f3de10de200542",
           datetime(2026, 9, 12, tzinfo=UTC)),
    _klein(KLEIN_9B, "FLUX.2 [klein] 9B: fast, step-distilled image generation and editing "
           "with up to five reference images, a larger sibling of [klein] 4B",
           None, datetime(2026, 2, 21, tzinfo=UTC), megapixels="megapixels", go_fast=True),
    _klein(KLEIN_4B_BASE, _BASE.format("4B"),
           "2289efa5ebba21f5322ba1b73ac92bb6fec9f34bafc08e0c26f465dac6f8b465",
           datetime(2026, 9, 12, tzinfo=UTC), base=True),
    _klein(KLEIN_9B_BASE, _BASE.format("9B"),
           "b037b94bdba7e4a7454b68e9dc6cf8e98c83f0f216fe5474144f52f69420c95c",
           datetime(2026, 9, 12, tzinfo=UTC), base=True),
)
_BY_NAME = {spec.name: spec for spec in SPECS}


def size(model: str, inputs: Mapping[str, Any], reference_sizes: Sequence[Size]) -> Size:
    """The ``(width, height)`` FLUX.2 model ``model`` makes for validated ``inputs`` and the
    sizes of its reference images (in input order); ``InvalidInput`` naming the field when
    the input asks for a size the model cannot make."""
    return _BY_NAME[model].size(inputs, reference_sizes)


def reference_inputs(model: str) -> list[str]:
    """The names of the inputs that hold FLUX.2 model ``model``'s reference images."""
    references = _BY_NAME[model].references
    return [] if references is None else [references.field]
