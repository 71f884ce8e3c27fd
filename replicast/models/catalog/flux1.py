"""FLUX.1 [schnell] and [dev], the open FLUX.1 models, as Replicate publishes them.

Sizes follow cog-flux, the code behind Replicate's models: an aspect ratio table at
1 megapixel, halved for 0.25; flux-dev's image to image keeps the input image's shape,
fitted into 1440 px with sides rounded to multiples of 16. The LoRA models
(``lora.py``) share all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from replicast.models.catalog.record import ModelSpec, References, Size
from replicast.models.schema import NO_DEFAULT, InputField

SCHNELL = "black-forest-labs/flux-schnell"
DEV = "black-forest-labs/flux-dev"

# Width x height at megapixels "1"; "0.25" halves each side (cog-flux predict.py).
ASPECT_RATIOS: dict[str, Size] = {
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
IMG2IMG_MAX_SIDE = 1440
SIZE_MULTIPLE = 16


def flux_size(aspect_ratio: str, megapixels: str) -> Size:
    """Output size of flux-schnell and flux-dev for text-to-image."""
    width, height = ASPECT_RATIOS[aspect_ratio]
    if megapixels == "0.25":
        return width // 2, height // 2
    return width, height


def img2img_size(width: int, height: int) -> Size:
    """Output size of flux-dev image-to-image: the input fitted into 1440 px, sides to x16
    (halves to even, as cog-flux's ``round`` does)."""
    scale = min(IMG2IMG_MAX_SIDE / width, IMG2IMG_MAX_SIDE / height, 1)
    if scale < 1:
        width, height = int(width * scale), int(height * scale)
    return (
        max(SIZE_MULTIPLE, round(width / SIZE_MULTIPLE) * SIZE_MULTIPLE),
        max(SIZE_MULTIPLE, round(height / SIZE_MULTIPLE) * SIZE_MULTIPLE),
    )


def size(inputs: Mapping[str, Any], references: Sequence[Size]) -> Size:
    """The size rule of flux-schnell, flux-dev and their LoRA models."""
    if references:
        return img2img_size(*references[0])
    return flux_size(inputs["aspect_ratio"], inputs["megapixels"])


PROMPT = InputField("prompt", "string", "Prompt for generated image")
ASPECT_RATIO = InputField(
    "aspect_ratio", "string", "Aspect ratio for the generated image", default="1:1",
    choices=list(ASPECT_RATIOS),
)
IMAGE = InputField(
    "image", "string",
    "Input image for image to image mode. The aspect ratio of your output will match this "
    "image",
    default=NO_DEFAULT, format="uri",
)
PROMPT_STRENGTH = InputField(
    "prompt_strength", "number",
    "Prompt strength when using img2img. 1.0 corresponds to full destruction of "
    "information in image",
    default=0.8, minimum=0, maximum=1,
)
NUM_OUTPUTS = InputField(
    "num_outputs", "integer", "Number of outputs to generate", default=1, minimum=1, maximum=4
)
SCHNELL_STEPS = InputField(
    "num_inference_steps", "integer",
    "Number of denoising steps. 4 is recommended, and lower number of steps produce lower "
    "quality outputs, faster.",
    default=4, minimum=1, maximum=4,
)
DEV_STEPS = InputField(
    "num_inference_steps", "integer",
    "Number of denoising steps. Recommended range is 28-50, and lower number of steps "
    "produce lower quality outputs, faster.",
    default=28, minimum=1, maximum=50,
)
SEED = InputField(
    "seed", "integer", "Random seed. Set for reproducible generation", default=NO_DEFAULT
)
OUTPUT_FORMAT = InputField(
    "output_format", "string", "Format of the output images", default="webp",
    choices=["webp", "jpg", "png"],
)
OUTPUT_QUALITY = InputField(
    "output_quality", "integer",
    "Quality when saving the output images, from 0 to 100. 100 is best quality, 0 is lowest "
    "quality. Not relevant for .png outputs",
    default=80, minimum=0, maximum=100,
)
DISABLE_SAFETY_CHECKER = InputField(
    "disable_safety_checker", "boolean", "Disable safety checker for generated images.",
    default=False,
)
GO_FAST_FP8 = InputField(
    "go_fast", "boolean",
    "Run faster predictions with model optimized for speed (currently fp8 quantized); disable "
    "to run in original bf16. Note that outputs will not be deterministic when this is "
    "enabled, even if you set a seed.",
    default=True,
)
MEGAPIXELS = InputField(
    "megapixels", "string", "Approximate number of megapixels for generated image",
    default="1", choices=["1", "0.25"],
)

SCHNELL_SPEC = ModelSpec(
    name=SCHNELL,
    description="The fastest image generation model tailored for local development and "
    "personal use",
    inputs=(PROMPT, ASPECT_RATIO, NUM_OUTPUTS, SCHNELL_STEPS, SEED, OUTPUT_FORMAT,
            OUTPUT_QUALITY, DISABLE_SAFETY_CHECKER, GO_FAST_FP8, MEGAPIXELS),
    many_outputs=True,
    size=size,
    references=None,
    version_id="c846a69991daf4c0e5d016514849d14ee5b2e6846ce6b9d6f21369e564cfe51e",
    version_created_at=datetime(2025, 6, 25, tzinfo=UTC),
    runs_on=SCHNELL,
)

# The newest flux-dev schema seen (autumn 2025 on): guidance 3.5 and new descriptions.
DEV_SPEC = ModelSpec(
    name=DEV,
    description="A 12 billion parameter rectified flow transformer capable of generating "
    "images from text descriptions",
    inputs=(
        PROMPT, ASPECT_RATIO, IMAGE, PROMPT_STRENGTH, NUM_OUTPUTS, DEV_STEPS,
        InputField(
            "guidance", "number",
            "Guidance for generated image. Lower values can give more realistic images. Good "
            "values to try are 2, 2.5, 3 and 3.5",
            default=3.5, minimum=0, maximum=10,
        ),
        SEED, OUTPUT_FORMAT, OUTPUT_QUALITY, DISABLE_SAFETY_CHECKER,
        InputField("go_fast", "boolean",
                   "Run faster predictions with additional optimizations.", default=True),
        MEGAPIXELS,
    ),
    many_outputs=True,
    size=size,
    references=References("image", 1, is_list=False),
    version_id="6e4a938f85952bdabcc15aa329178c4d681c52bf25a0342403287dc26944661d",
    version_created_at=datetime(2025, 10, 18, tzinfo=UTC),
    runs_on=DEV,
)

SPECS = (SCHNELL_SPEC, DEV_SPEC)
