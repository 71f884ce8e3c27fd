"""Stand-ins for the FLUX models, for machines without their weights.

A stand-in takes exactly the real model's input and answers with what the real model
would return in shape: images of the exact pixel size for the aspect ratio,
megapixels or input image, ``num_outputs`` files in ``output_format`` at
``output_quality``. The pictures are smooth colour fields derived from the input and
the seed, the same bytes for the same input and seed, so an app's integration tests
can run offline, fast and deterministic. The logs say plainly that it is a stand-in.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from PIL import Image, ImageDraw, ImageFont

from replicast.imaging import decode_image, encode_image
from replicast.models import flux_spec
from replicast.models.base import RunContext, Runner
from replicast.models.progress import progress_line

MAX_INPUT_PIXELS = 40_000_000
KONTEXT_QUALITY = 95


class FluxStandIn(Runner):
    """Answers one FLUX model's predictions with deterministic placeholder images."""

    served_by = "stand-in"

    def __init__(self, model: str) -> None:
        if model not in flux_spec.schemas():
            raise ValueError(f"no FLUX stand-in for {model}")
        self.model = model
        self.concurrency = os.cpu_count() or 1

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        context.log(
            f"Replicast stand-in for {self.model}: no model weights are loaded, so these images "
            "are placeholders, the same for the same input and seed.\n"
        )
        seed = inputs.get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(2), "big")
        context.log(f"Using seed: {seed}\n")
        source_url = inputs.get("input_image") if self.model == flux_spec.KONTEXT_PRO \
            else inputs.get("image")
        source = None
        source_digest = ""
        if source_url:
            data = await context.fetch_file(source_url)
            source_digest = hashlib.sha256(data).hexdigest()
            source = await asyncio.to_thread(decode_image, data, max_pixels=MAX_INPUT_PIXELS)
            context.log(f"Input image size: {source.width}x{source.height}\n")
        width, height = self._size(inputs, source)
        count = int(inputs.get("num_outputs", 1))
        output_format = inputs["output_format"]
        quality = int(inputs.get("output_quality", KONTEXT_QUALITY))
        key = orjson.dumps([self.model, {**inputs, "seed": seed}, source_digest],
                           option=orjson.OPT_SORT_KEYS).decode()
        began = time.monotonic()
        steps = int(inputs.get("num_inference_steps", 0))
        for step in range(steps + 1 if steps else 0):
            context.log(progress_line(step, steps))
        files = await asyncio.to_thread(
            _render_all, count, width, height, key, source, output_format, quality,
            inputs["prompt"], context.check_canceled,
        )
        urls = [
            await context.save_file(f"out-{index}.{output_format}", data)
            for index, data in enumerate(files)
        ]
        context.log(f"Generated {count} image(s) of {width}x{height} in "
                    f"{time.monotonic() - began:.2f}s\n")
        context.record_metric("image_count", count)
        return urls[0] if self.model == flux_spec.KONTEXT_PRO else urls

    def _size(self, inputs: dict[str, Any], source: Image.Image | None) -> tuple[int, int]:
        if self.model == flux_spec.KONTEXT_PRO:
            return flux_spec.kontext_size(inputs["aspect_ratio"],
                                          None if source is None else source.size)
        if source is not None:
            return flux_spec.img2img_size(*source.size)
        return flux_spec.flux_size(inputs["aspect_ratio"], inputs["megapixels"])


def _render_all(count: int, width: int, height: int, key: str, source: Image.Image | None,
                output_format: str, quality: int, prompt: str,
                check_canceled: Callable[[], None]) -> list[bytes]:
    files = []
    for index in range(count):
        check_canceled()
        image = render(width, height, f"{key}:{index}", source, prompt)
        check_canceled()
        files.append(encode_image(image, output_format, quality))
    return files


def render(width: int, height: int, key: str, source: Image.Image | None = None,
           prompt: str = "") -> Image.Image:
    """A deterministic placeholder picture: a colour field seeded by ``key``."""
    rng = random.Random(key)
    grid = Image.new("RGB", (4, 4))
    grid.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                  for _ in range(16)])
    image = grid.resize((width, height), Image.Resampling.BICUBIC)
    if source is not None:
        image = Image.blend(source.resize((width, height), Image.Resampling.BICUBIC), image, 0.35)
    draw = ImageDraw.Draw(image)
    size = max(10, min(width, height) // 20)
    font = ImageFont.load_default(size=size)
    label = "Replicast stand-in\n" + (prompt[:60] + ("…" if len(prompt) > 60 else ""))
    draw.multiline_text((size, size), label, fill=(255, 255, 255), font=font,
                        stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return image
