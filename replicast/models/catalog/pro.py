"""The FLUX.1 [pro] line: flux-pro, flux-1.1-pro and flux-1.1-pro-ultra.

Closed models (Black Forest Labs' API behind Replicate), with one optional Redux image
prompt each. Replicate publishes ``x-order`` on their choice inputs only. Neither
publishes pixel sizes for the aspect ratios, so Replicast's rule is Black Forest Labs'
documented one: about 1 megapixel (ultra: 4) at the ratio, sides multiples of 32;
``custom`` takes ``width``/``height`` rounded to multiples of 32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from replicast.models.catalog.record import ModelSpec, References, Size
from replicast.models.catalog.sizing import MEGAPIXEL, area_size, custom_size, ratio
from replicast.models.schema import NO_DEFAULT, InputField

PRO = "black-forest-labs/flux-pro"
PRO_11 = "black-forest-labs/flux-1.1-pro"
ULTRA = "black-forest-labs/flux-1.1-pro-ultra"

MULTIPLE = 32
CUSTOM_RANGE = (256, 1440)


def size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """flux-pro and flux-1.1-pro: ~1 MP at the aspect ratio, or the custom size."""
    if inputs["aspect_ratio"] == "custom":
        return custom_size(inputs, MULTIPLE, *CUSTOM_RANGE)
    return area_size(ratio(inputs["aspect_ratio"]), MEGAPIXEL, MULTIPLE)


def ultra_size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """flux-1.1-pro-ultra: ~4 MP at the aspect ratio."""
    return area_size(ratio(inputs["aspect_ratio"]), 4 * MEGAPIXEL, MULTIPLE)


_PROMPT = InputField("prompt", "string", "Text prompt for image generation", ordered=False)
_IMAGE_PROMPT = InputField(
    "image_prompt", "string",
    "Image to use with Flux Redux. This is used together with the text prompt to guide the "
    "generation towards the composition of the image_prompt. Must be jpeg, png, gif, or webp.",
    default=NO_DEFAULT, format="uri", nullable=True, ordered=False,
)
_RATIOS = ["custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3"]
_ASPECT_RATIO = InputField("aspect_ratio", "string", "Aspect ratio for the generated image",
                           default="1:1", choices=_RATIOS)


def _side(name: str) -> InputField:
    return InputField(
        name, "integer",
        f"{name.title()} of the generated image in text-to-image mode. Only used when "
        "aspect_ratio=custom. Must be a multiple of 32 (if it's not, it will be rounded to "
        "nearest multiple of 32). Note: Ignored in img2img and inpainting modes.",
        default=NO_DEFAULT, minimum=CUSTOM_RANGE[0], maximum=CUSTOM_RANGE[1], nullable=True,
        ordered=False,
    )


_SAFETY = InputField(
    "safety_tolerance", "integer", "Safety tolerance, 1 is most strict and 6 is most permissive",
    default=2, minimum=1, maximum=6, ordered=False,
)
_SEED = InputField("seed", "integer", "Random seed. Set for reproducible generation",
                   default=NO_DEFAULT, nullable=True, ordered=False)
_UPSAMPLING = InputField(
    "prompt_upsampling", "boolean",
    "Automatically modify the prompt for more creative generation", default=False,
    ordered=False,
)
_OUTPUT_FORMAT = InputField("output_format", "string", "Format of the output images.",
                            default="webp", choices=["webp", "jpg", "png"])
_OUTPUT_QUALITY = InputField(
    "output_quality", "integer",
    "Quality when saving the output images, from 0 to 100. 100 is best quality, 0 is lowest "
    "quality. Not relevant for .png outputs",
    default=80, minimum=0, maximum=100, ordered=False,
)
_IMAGE_PROMPT_REFERENCE = References("image_prompt", 1, is_list=False)

PRO_SPEC = ModelSpec(
    name=PRO,
    description="State-of-the-art image generation with top of the line prompt following, "
    "visual quality, image detail and output diversity.",
    inputs=(
        _PROMPT, _IMAGE_PROMPT, _ASPECT_RATIO, _side("width"), _side("height"),
        InputField("steps", "integer", "Deprecated", default=25, minimum=1, maximum=50,
                   ordered=False),
        InputField(
            "guidance", "number",
            "Controls the balance between adherence to the text prompt and image "
            "quality/diversity. Higher values make the output more closely match the prompt "
            "but may reduce overall image quality. Lower values allow for more creative "
            "freedom but might produce results less relevant to the prompt.",
            default=3, minimum=2, maximum=5, ordered=False,
        ),
        InputField("interval", "number", "Deprecated", default=2, minimum=1, maximum=4,
                   ordered=False),
        _SAFETY, _SEED, _UPSAMPLING, _OUTPUT_FORMAT, _OUTPUT_QUALITY,
    ),
    many_outputs=False,
    size=size,
    references=_IMAGE_PROMPT_REFERENCE,
    version_id="ce4035b99fc7bac18bc2f0384632858f126f6b4d96c88603a898a76b8e0c4ac2",
    version_created_at=datetime(2026, 1, 18, tzinfo=UTC),
)

PRO_11_SPEC = ModelSpec(
    name=PRO_11,
    description="FLUX1.1 [pro]: faster, better FLUX [pro] text-to-image generation with an "
    "optional Redux image prompt",
    inputs=(
        _PROMPT, _IMAGE_PROMPT, _ASPECT_RATIO, _side("width"), _side("height"), _SAFETY, _SEED,
        _UPSAMPLING, _OUTPUT_FORMAT, _OUTPUT_QUALITY,
    ),
    many_outputs=False,
    size=size,
    references=_IMAGE_PROMPT_REFERENCE,
    version_id=None,
    version_created_at=datetime(2026, 1, 18, tzinfo=UTC),
)

ULTRA_SPEC = ModelSpec(
    name=ULTRA,
    description="FLUX1.1 [pro] in ultra and raw modes. Images are up to 4 megapixels. Use raw "
    "mode for realism.",
    inputs=(
        _PROMPT, _IMAGE_PROMPT,
        InputField("image_prompt_strength", "number",
                   "Blend between the prompt and the image prompt.", default=0.1, minimum=0,
                   maximum=1, ordered=False),
        InputField("aspect_ratio", "string", "Aspect ratio for the generated image",
                   default="1:1", choices=["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5",
                                           "3:4", "2:3", "9:16", "9:21"]),
        _SAFETY, _SEED,
        InputField("raw", "boolean", "Generate less processed, more natural-looking images",
                   default=False, ordered=False),
        InputField("output_format", "string", "Format of the output images.", default="jpg",
                   choices=["jpg", "png"]),
    ),
    many_outputs=False,
    size=ultra_size,
    references=_IMAGE_PROMPT_REFERENCE,
    version_id="5ea10f739af9f6d4002fae9aee4c15be14c3c8d7f8b309e634bf68df09159863",
    version_created_at=datetime(2026, 1, 18, tzinfo=UTC),
)

SPECS = (PRO_SPEC, PRO_11_SPEC, ULTRA_SPEC)
