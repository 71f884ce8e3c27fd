"""The FLUX models as Replicate publishes them: input schemas and output sizes.

Shared by the stand-ins and the real diffusers models, so both answer the same
inputs with the same pixel sizes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from replicast.models.schema import (
    NO_DEFAULT,
    InputField,
    cog_openapi,
    file_list_output,
    file_output,
)

SCHNELL = "black-forest-labs/flux-schnell"
DEV = "black-forest-labs/flux-dev"
KONTEXT_PRO = "black-forest-labs/flux-kontext-pro"

# Width x height at megapixels "1"; "0.25" halves each side (cog-flux predict.py).
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}

# FLUX.1 Kontext's trained resolutions (diffusers' PREFERRED_KONTEXT_RESOLUTIONS).
KONTEXT_RESOLUTIONS: list[tuple[int, int]] = [
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
    (880, 1184), (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832),
    (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
]
KONTEXT_ASPECT_RATIOS: dict[str, tuple[int, int]] = {
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
IMG2IMG_MAX_SIDE = 1440
SIZE_MULTIPLE = 16


def flux_size(aspect_ratio: str, megapixels: str) -> tuple[int, int]:
    """Output size of flux-schnell and flux-dev for text-to-image."""
    width, height = ASPECT_RATIOS[aspect_ratio]
    if megapixels == "0.25":
        return width // 2, height // 2
    return width, height


def img2img_size(width: int, height: int) -> tuple[int, int]:
    """Output size of flux-dev image-to-image: the input fitted into 1440 px, sides to x16."""
    scale = min(IMG2IMG_MAX_SIDE / width, IMG2IMG_MAX_SIDE / height, 1)
    if scale < 1:
        width, height = int(width * scale), int(height * scale)
    return (
        max(SIZE_MULTIPLE, round(width / SIZE_MULTIPLE) * SIZE_MULTIPLE),
        max(SIZE_MULTIPLE, round(height / SIZE_MULTIPLE) * SIZE_MULTIPLE),
    )


def closest_kontext_resolution(width: int, height: int) -> tuple[int, int]:
    """The trained Kontext resolution whose aspect ratio is closest to ``width/height``."""
    ratio = width / height
    _, w, h = min((abs(ratio - w / h), w, h) for w, h in KONTEXT_RESOLUTIONS)
    return w, h


def kontext_size(aspect_ratio: str, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """Output size of flux-kontext-pro."""
    if aspect_ratio in KONTEXT_ASPECT_RATIOS:
        return KONTEXT_ASPECT_RATIOS[aspect_ratio]
    if aspect_ratio == "match_input_image":
        return closest_kontext_resolution(*input_size) if input_size else (1024, 1024)
    width, height = (int(part) for part in aspect_ratio.split(":"))
    return closest_kontext_resolution(width, height)


_PROMPT = InputField("prompt", "string", "Prompt for generated image")
_ASPECT_RATIO = InputField(
    "aspect_ratio", "string", "Aspect ratio for the generated image", default="1:1",
    choices=list(ASPECT_RATIOS),
)
_NUM_OUTPUTS = InputField(
    "num_outputs", "integer", "Number of outputs to generate", default=1, minimum=1, maximum=4
)
_SEED = InputField(
    "seed", "integer", "Random seed. Set for reproducible generation", default=NO_DEFAULT
)
_OUTPUT_FORMAT = InputField(
    "output_format", "string", "Format of the output images", default="webp",
    choices=["webp", "jpg", "png"],
)
_OUTPUT_QUALITY = InputField(
    "output_quality", "integer",
    "Quality when saving the output images, from 0 to 100. 100 is best quality, 0 is lowest "
    "quality. Not relevant for .png outputs",
    default=80, minimum=0, maximum=100,
)
_DISABLE_SAFETY_CHECKER = InputField(
    "disable_safety_checker", "boolean", "Disable safety checker for generated images.",
    default=False,
)
_GO_FAST = InputField(
    "go_fast", "boolean",
    "Run faster predictions with model optimized for speed (currently fp8 quantized); disable "
    "to run in original bf16. Note that outputs will not be deterministic when this is "
    "enabled, even if you set a seed.",
    default=True,
)
_MEGAPIXELS = InputField(
    "megapixels", "string", "Approximate number of megapixels for generated image",
    default="1", choices=["1", "0.25"],
)

SCHNELL_INPUTS = [
    _PROMPT,
    _ASPECT_RATIO,
    _NUM_OUTPUTS,
    InputField(
        "num_inference_steps", "integer",
        "Number of denoising steps. 4 is recommended, and lower number of steps produce lower "
        "quality outputs, faster.",
        default=4, minimum=1, maximum=4,
    ),
    _SEED,
    _OUTPUT_FORMAT,
    _OUTPUT_QUALITY,
    _DISABLE_SAFETY_CHECKER,
    _GO_FAST,
    _MEGAPIXELS,
]

DEV_INPUTS = [
    _PROMPT,
    _ASPECT_RATIO,
    InputField(
        "image", "string",
        "Input image for image to image mode. The aspect ratio of your output will match this "
        "image",
        default=NO_DEFAULT, format="uri",
    ),
    InputField(
        "prompt_strength", "number",
        "Prompt strength when using img2img. 1.0 corresponds to full destruction of "
        "information in image",
        default=0.8, minimum=0, maximum=1,
    ),
    _NUM_OUTPUTS,
    InputField(
        "num_inference_steps", "integer",
        "Number of denoising steps. Recommended range is 28-50, and lower number of steps "
        "produce lower quality outputs, faster.",
        default=28, minimum=1, maximum=50,
    ),
    InputField(
        "guidance", "number", "Guidance for generated image", default=3, minimum=0, maximum=10
    ),
    _SEED,
    _OUTPUT_FORMAT,
    _OUTPUT_QUALITY,
    _DISABLE_SAFETY_CHECKER,
    _GO_FAST,
    _MEGAPIXELS,
]

KONTEXT_INPUTS = [
    InputField(
        "prompt", "string",
        "Text description of what you want to generate, or the instruction on how to edit the "
        "given image.",
    ),
    InputField(
        "input_image", "string", "Image to use as reference. Must be jpeg, png, gif, or webp.",
        default=NO_DEFAULT, format="uri", nullable=True,
    ),
    InputField(
        "aspect_ratio", "string",
        "Aspect ratio of the generated image. Use 'match_input_image' to match the aspect ratio "
        "of the input image.",
        default="match_input_image", choices=KONTEXT_RATIO_CHOICES, inline_enum=True,
    ),
    InputField("prompt_upsampling", "boolean", "Automatic prompt improvement", default=False),
    InputField(
        "seed", "integer", "Random seed. Set for reproducible generation",
        default=NO_DEFAULT, nullable=True,
    ),
    InputField(
        "output_format", "string", "Output format for the generated image", default="png",
        choices=["jpg", "png"], inline_enum=True,
    ),
    InputField(
        "safety_tolerance", "integer",
        "Safety tolerance, 0 is most strict and 6 is most permissive. 2 is currently the "
        "maximum allowed when input images are used.",
        default=2, minimum=0, maximum=6,
    ),
]

DESCRIPTIONS = {
    SCHNELL: "The fastest image generation model tailored for local development and personal use",
    DEV: "A 12 billion parameter rectified flow transformer capable of generating images from "
    "text descriptions",
    KONTEXT_PRO: "A state-of-the-art text-based image editing model that delivers high-quality "
    "outputs with excellent prompt following and consistent results for transforming images "
    "through natural language",
}

# When these schemas were last changed, as the versions' created_at.
VERSION_CREATED_AT = datetime(2025, 6, 25, tzinfo=UTC)


def schemas() -> dict[str, dict[str, Any]]:
    """Each FLUX model's ``openapi_schema``, by ``owner/name``."""
    return {
        SCHNELL: cog_openapi(SCHNELL_INPUTS, file_list_output()),
        DEV: cog_openapi(DEV_INPUTS, file_list_output()),
        KONTEXT_PRO: cog_openapi(KONTEXT_INPUTS, file_output()),
    }
