"""FLUX.1 Kontext [pro] and [max]: image editing from one reference image.

Both are Black Forest Labs' closed models on Replicate; Replicast serves flux-kontext-pro
with the open FLUX.1 Kontext [dev] weights when they are in its weights folder. Outputs
are about one megapixel: a size the Kontext models were trained at (diffusers'
``PREFERRED_KONTEXT_RESOLUTIONS``), the one closest to the asked aspect ratio, or to the
input image's with ``match_input_image``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from replicast.models.catalog.record import ModelSpec, References, Size
from replicast.models.schema import NO_DEFAULT, InputField

KONTEXT_PRO = "black-forest-labs/flux-kontext-pro"
KONTEXT_MAX = "black-forest-labs/flux-kontext-max"

# FLUX.1 Kontext's trained resolutions (diffusers' PREFERRED_KONTEXT_RESOLUTIONS).
KONTEXT_RESOLUTIONS: list[Size] = [
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
    (880, 1184), (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832),
    (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
]
KONTEXT_ASPECT_RATIOS: dict[str, Size] = {
    "1:1": (1024, 1024),
    "16:9": (1328, 800),
    "21:9": (1568, 672),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "4:5": (944, 1104),
    "5:4": (1104, 944),
    "3:4": (880, 1184),
    "4:3": (1184, 880),
    "9:16": (800, 1328),
    "9:21": (672, 1568),
}
KONTEXT_RATIO_CHOICES = [
    "match_input_image", "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4",
    "21:9", "9:21", "2:1", "1:2",
]


def closest_kontext_resolution(width: int, height: int) -> Size:
    """The trained Kontext resolution whose aspect ratio is closest to ``width/height``."""
    ratio = width / height
    _, w, h = min((abs(ratio - w / h), w, h) for w, h in KONTEXT_RESOLUTIONS)
    return w, h


def kontext_size(aspect_ratio: str, input_size: Size | None) -> Size:
    """Output size of the Kontext models."""
    if aspect_ratio in KONTEXT_ASPECT_RATIOS:
        return KONTEXT_ASPECT_RATIOS[aspect_ratio]
    if aspect_ratio == "match_input_image":
        return closest_kontext_resolution(*input_size) if input_size else (1024, 1024)
    width, height = (int(part) for part in aspect_ratio.split(":"))
    return closest_kontext_resolution(width, height)


def size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """The size rule of both Kontext models."""
    return kontext_size(inputs["aspect_ratio"], references[0] if references else None)


def _inputs(ordered: bool) -> tuple[InputField, ...]:
    """Kontext's inputs; the current flux-kontext-pro has ``x-order`` on its choices only."""
    return (
        InputField(
            "prompt", "string",
            "Text description of what you want to generate, or the instruction on how to "
            "edit the given image.",
            ordered=ordered,
        ),
        InputField(
            "input_image", "string",
            "Image to use as reference. Must be jpeg, png, gif, or webp.",
            default=NO_DEFAULT, format="uri", nullable=True, ordered=ordered,
        ),
        InputField(
            "aspect_ratio", "string",
            "Aspect ratio of the generated image. Use 'match_input_image' to match the aspect "
            "ratio of the input image.",
            default="match_input_image", choices=KONTEXT_RATIO_CHOICES,
        ),
        InputField("prompt_upsampling", "boolean", "Automatic prompt improvement",
                   default=False, ordered=ordered),
        InputField("seed", "integer", "Random seed. Set for reproducible generation",
                   default=NO_DEFAULT, nullable=True, ordered=ordered),
        InputField("output_format", "string", "Output format for the generated image",
                   default="png", choices=["jpg", "png"]),
        InputField(
            "safety_tolerance", "integer",
            "Safety tolerance, 0 is most strict and 6 is most permissive. 2 is currently the "
            "maximum allowed when input images are used.",
            default=2, minimum=0, maximum=6, ordered=ordered,
        ),
    )


_DESCRIPTION = (
    "A state-of-the-art text-based image editing model that delivers high-quality outputs "
    "with excellent prompt following and consistent results for transforming images "
    "through natural language"
)

KONTEXT_PRO_SPEC = ModelSpec(
    name=KONTEXT_PRO,
    description=_DESCRIPTION,
    inputs=_inputs(ordered=False),
    many_outputs=False,
    size=size,
    references=References("input_image", 1, is_list=False),
    version_id="897a70f5a7dbd8a0611413b3b98cf417b45f266bd595c571a22947619d9ae462",
    version_created_at=datetime(2026, 1, 18, tzinfo=UTC),
    runs_on=KONTEXT_PRO,  # its folder holds the open FLUX.1 Kontext [dev] weights
)

KONTEXT_MAX_SPEC = ModelSpec(
    name=KONTEXT_MAX,
    description="Black Forest Labs' strongest FLUX.1 Kontext model: edits an image, or makes "
    "one, from a text instruction",
    inputs=_inputs(ordered=True),
    many_outputs=False,
    size=size,
    references=References("input_image", 1, is_list=False),
    version_id=None,
    version_created_at=datetime(2025, 6, 3, tzinfo=UTC),
)

SPECS = (KONTEXT_PRO_SPEC, KONTEXT_MAX_SPEC)
