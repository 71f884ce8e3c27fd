"""Stand-ins for the catalog's FLUX models, for machines without their weights.

A stand-in takes exactly the real model's input and answers with what the real model
would return in shape: images of the exact pixel size the model's size rule gives
(aspect ratio, megapixels or resolution, custom sides, or the first reference image),
``num_outputs`` files where the model has that input, in ``output_format`` at
``output_quality``, as one URI or an array as the model's schema says. The pictures
(``placeholder.py``) are drawn from the input, the reference images and the seed: the
same bytes for the same input and seed, so an app's integration tests can run offline,
fast and deterministic. The logs say plainly that it is a stand-in.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from PIL import Image, ImageFilter

from replicast.errors import InvalidInput, ModelError
from replicast.imaging import decode_image, encode_image
from replicast.models import catalog
from replicast.models.base import RunContext, Runner
from replicast.models.placeholder import picture
from replicast.models.progress import preview_steps, progress_line

MAX_INPUT_PIXELS = 40_000_000
DEFAULT_QUALITY = 95
"""Quality of lossy outputs of models without an ``output_quality`` input."""


class FluxStandIn(Runner):
    """Answers one catalog model's predictions with deterministic placeholder images."""

    served_by = "stand-in"

    def __init__(self, model: str) -> None:
        if model not in catalog.SPECS:
            raise ValueError(f"no FLUX stand-in for {model}")
        self.spec = catalog.spec(model)
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
        references, digests = await self._references(context, inputs)
        try:
            width, height = self.spec.size(inputs, [image.size for image in references])
        except InvalidInput as exc:  # checked at create; a run sees the same words
            raise ModelError(str(exc)) from None
        count = int(inputs.get("num_outputs", 1))
        output_format = inputs["output_format"]
        quality = int(inputs.get("output_quality", DEFAULT_QUALITY))
        key = orjson.dumps([self.model, {**inputs, "seed": seed}, digests],
                           option=orjson.OPT_SORT_KEYS).decode()
        began = time.monotonic()
        steps = int(inputs.get("num_inference_steps") or inputs.get("steps") or 0)
        title = f"Replicast stand-in for {self.spec.short_name}"
        files = await asyncio.to_thread(
            _render_all, count, width, height, key, references, output_format, quality,
            title, str(inputs.get("prompt", "")), context.check_canceled,
        )
        # Previews at the steps a real run sends them (four nominal steps without any).
        nominal = steps or 4
        points = preview_steps(nominal, context.previews)
        for step in range(nominal + 1):
            if steps:
                context.log(progress_line(step, steps))
            if step in points:
                preview = await asyncio.to_thread(_preview, files[0], 1 - step / nominal,
                                                  output_format, quality)
                context.preview(points.index(step), preview, output_format)
        urls = [
            await context.save_file(f"out-{index}.{output_format}", data)
            for index, data in enumerate(files)
        ]
        context.log(f"Generated {count} image(s) of {width}x{height} in "
                    f"{time.monotonic() - began:.2f}s\n")
        context.record_metric("image_count", count)
        return urls if self.spec.many_outputs else urls[0]

    async def _references(self, context: RunContext, inputs: dict[str, Any]
                          ) -> tuple[list[Image.Image], list[str]]:
        """The reference images, decoded, and their bytes' digests, in input order."""
        references = self.spec.references
        urls = self.spec.reference_urls(inputs)
        images: list[Image.Image] = []
        digests: list[str] = []
        for index, url in enumerate(urls):
            assert references is not None
            label = f"{references.field}[{index}]" if references.is_list else references.field
            data = await context.fetch_file(url)
            digests.append(hashlib.sha256(data).hexdigest())
            image = await asyncio.to_thread(decode_image, data, max_pixels=MAX_INPUT_PIXELS,
                                            what=f"file given as {label}")
            images.append(image)
            which = f" {index + 1} of {len(urls)}" if references.is_list else ""
            context.log(f"Input image{which} size: {image.width}x{image.height}\n")
        return images, digests


def _render_all(count: int, width: int, height: int, key: str,
                references: list[Image.Image], output_format: str, quality: int, title: str,
                prompt: str, check_canceled: Callable[[], None]) -> list[bytes]:
    files = []
    for index in range(count):
        check_canceled()
        image = picture(width, height, f"{key}:{index}", references, title, prompt)
        check_canceled()
        files.append(encode_image(image, output_format, quality))
    return files


def _preview(final: bytes, unfinished: float, output_format: str, quality: int) -> bytes:
    """A stand-in's preview: its final image, blurred the more the less is done."""
    image = decode_image(final, max_pixels=100_000_000, what="stand-in image")
    radius = unfinished * max(image.size) / 16
    return encode_image(image.filter(ImageFilter.GaussianBlur(radius)), output_format, quality)
