"""The FLUX models for real, through Hugging Face diffusers.

flux-schnell and flux-dev run ``FluxPipeline`` (flux-dev's ``image`` input switches to
``FluxImg2ImgPipeline``, sharing the loaded modules); flux-kontext-pro runs
``FluxKontextPipeline`` with the open FLUX.1 Kontext [dev] weights. A pipeline is
loaded once, from a local folder only, and kept. Its calls run one at a time on a
thread of their own (the device thread); a step callback logs progress and stops the
run between steps when the prediction is canceled. Encoding the images runs on other
threads, so it overlaps the next prediction's denoising.

torch and diffusers are imported only here and only when a model is loaded: the core
install does not need them (``pip install 'replicast[flux]'``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from replicast.errors import ModelError
from replicast.imaging import decode_image, encode_image
from replicast.models import flux_spec
from replicast.models.base import RunContext, Runner
from replicast.models.progress import progress_line
from replicast.models.safety import SafetyChecker

log = logging.getLogger(__name__)

MAX_INPUT_PIXELS = 40_000_000
KONTEXT_STEPS = 28
KONTEXT_GUIDANCE = 2.5
KONTEXT_QUALITY = 95
MAX_SEQUENCE_LENGTH = {flux_spec.SCHNELL: 256, flux_spec.DEV: 512, flux_spec.KONTEXT_PRO: 512}


class _Canceled(Exception):
    """Raised from the step callback to leave the pipeline between two steps."""


class FluxRunner(Runner):
    """Runs one FLUX model from its weights folder."""

    # One prediction denoises while the one before it encodes its images.
    concurrency = 2
    served_by = "diffusers"

    def __init__(self, model: str, folder: Path, *, device: str = "auto",
                 load_at_startup: bool = True, safety: SafetyChecker | None = None) -> None:
        self.model = model
        self.folder = folder
        self.device_setting = device
        self.load_at_startup = load_at_startup
        self.safety = safety
        self._device_thread = ThreadPoolExecutor(1, thread_name_prefix=f"flux-{model}")
        self._on_device = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self._pipeline: Any = None
        self._img2img: Any = None
        self._fast: Any = None
        self._device = "cpu"
        self._fast_note = ""

    async def setup(self) -> None:
        if self.load_at_startup:
            await self._ensure_loaded()

    async def _on_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._device_thread, function,
                                                                *args)

    async def _ensure_loaded(self) -> None:
        async with self._load_lock:
            if self._pipeline is None:
                began = time.monotonic()
                await self._on_thread(self._load)
                log.info("%s: loaded %s on %s in %.1f s", self.model, self.folder, self._device,
                         time.monotonic() - began)

    def _load(self) -> None:
        # Weights come from a local folder only; never wait on a hub that is not there.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
            from diffusers import FluxImg2ImgPipeline, FluxKontextPipeline, FluxPipeline

            device = self.device_setting
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            cls = FluxKontextPipeline if self.model == flux_spec.KONTEXT_PRO else FluxPipeline
            pipeline = cls.from_pretrained(self.folder, local_files_only=True,
                                           torch_dtype=dtype).to(device)
            pipeline.set_progress_bar_config(disable=True)
            if self.model == flux_spec.DEV:
                self._img2img = FluxImg2ImgPipeline.from_pipe(pipeline)
                self._img2img.set_progress_bar_config(disable=True)
            self._device, self._pipeline = device, pipeline
            if self.model != flux_spec.KONTEXT_PRO:  # go_fast is not one of Kontext's inputs
                self._fast, self._fast_note = _fast_pipeline(torch, pipeline, device)

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        await self._ensure_loaded()
        seed = inputs.get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(2), "big")
        context.log(f"Using seed: {seed}\n")
        source = await self._source_image(context, inputs)
        call = self._call_arguments(inputs, source, seed)
        if inputs.get("go_fast"):
            if source is not None:
                context.log("img2img not supported with fp8 quantization; running with bf16\n")
            elif self._fast is not None:
                call["fast"] = True
                context.log("running quantized prediction\n")
            else:
                context.log(f"go_fast: {self._fast_note}\n")
        async with self._on_device:
            try:
                images = await self._on_thread(self._generate, call, context)
            except _Canceled:
                raise asyncio.CancelledError() from None
        images = await self._checked(context, images, inputs)
        output_format = inputs["output_format"]
        quality = int(inputs.get("output_quality", KONTEXT_QUALITY))
        files = await asyncio.gather(*(
            asyncio.to_thread(encode_image, image, output_format, quality) for image in images
        ))
        urls = [await context.save_file(f"out-{i}.{output_format}", data)
                for i, data in enumerate(files)]
        context.record_metric("image_count", len(urls))
        return urls[0] if self.model == flux_spec.KONTEXT_PRO else urls

    async def _source_image(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        url = inputs.get("input_image") if self.model == flux_spec.KONTEXT_PRO \
            else inputs.get("image")
        if not url:
            return None
        data = await context.fetch_file(url)
        image = await asyncio.to_thread(decode_image, data, max_pixels=MAX_INPUT_PIXELS)
        context.log(f"Input image size: {image.width}x{image.height}\n")
        return image

    def _call_arguments(self, inputs: dict[str, Any], source: Any, seed: int) -> dict[str, Any]:
        """The pipeline's keyword arguments (the generator is made on the device thread)."""
        call: dict[str, Any] = {
            "prompt": inputs["prompt"], "seed": seed, "output_type": "pil",
            "max_sequence_length": MAX_SEQUENCE_LENGTH[self.model],
        }
        if self.model == flux_spec.KONTEXT_PRO:
            width, height = flux_spec.kontext_size(
                inputs["aspect_ratio"], None if source is None else source.size)
            call.update(image=source, width=width, height=height, max_area=width * height,
                        num_inference_steps=KONTEXT_STEPS, guidance_scale=KONTEXT_GUIDANCE)
            return call
        if source is not None:
            width, height = flux_spec.img2img_size(*source.size)
            call.update(image=source, strength=inputs["prompt_strength"], img2img=True)
        else:
            width, height = flux_spec.flux_size(inputs["aspect_ratio"], inputs["megapixels"])
        call.update(width=width, height=height, num_images_per_prompt=inputs["num_outputs"],
                    num_inference_steps=inputs["num_inference_steps"],
                    guidance_scale=float(inputs.get("guidance", 0.0)))
        return call

    def _generate(self, call: dict[str, Any], context: RunContext) -> list[Any]:
        """One pipeline call, on the device thread."""
        import torch

        pipeline = self._pipeline
        if call.pop("img2img", False):
            pipeline = self._img2img
        elif call.pop("fast", False):
            pipeline = self._fast
        seed = call.pop("seed")
        total = int(call["num_inference_steps"] * call.get("strength", 1.0)) or 1
        began = time.monotonic()
        context.log(progress_line(0, total, 0.0))

        def step(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            context.log(progress_line(min(index + 1, total), total, time.monotonic() - began))
            if context.cancel_event.is_set():
                raise _Canceled()
            return tensors

        generator = torch.Generator(device=self._device).manual_seed(seed)
        try:
            result = pipeline(generator=generator, callback_on_step_end=step, **call)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise ModelError(
                "The GPU ran out of memory for this prediction; try fewer outputs or fewer "
                "megapixels"
            ) from exc
        return list(result.images)

    async def _checked(self, context: RunContext, images: list[Any],
                       inputs: dict[str, Any]) -> list[Any]:
        if inputs.get("disable_safety_checker"):
            context.log("The safety checker is disabled for this prediction\n")
            return images
        if self.safety is None:
            context.log("No safety checker is configured; images are not checked\n")
            return images
        flagged = await self._on_thread(self.safety.flags, images)
        kept = []
        for index, (image, bad) in enumerate(zip(images, flagged, strict=True)):
            if bad:
                context.log(f"NSFW content detected in image {index}\n")
            else:
                kept.append(image)
        context.log(f"Total safe images: {len(kept)} out of {len(images)}\n")
        if not kept:
            raise ModelError("All generated images contained NSFW content. Try running it "
                             "again with a different prompt.")
        return kept


def _fast_pipeline(torch: Any, pipeline: Any, device: str) -> tuple[Any, str]:
    """The ``go_fast`` variant of a loaded pipeline, or None and why there is none.

    fp8 (dynamic activation and weight quantization through torchao) of a copy of the
    transformer, compiled with ``torch.compile``; the text encoders and the VAE are
    shared with the bf16 pipeline. Needs a CUDA GPU with fp8 (compute capability 8.9,
    Ada or Hopper) and the ``fast`` extra.
    """
    if not device.startswith("cuda"):
        return None, "fp8 needs a CUDA GPU; running in full precision on the CPU"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return None, "this GPU has no fp8 support; running in bf16"
    try:
        from torchao.quantization import float8_dynamic_activation_float8_weight, quantize_
    except ImportError:
        return None, "torchao is not installed (pip install 'replicast[fast]'); running in bf16"
    import copy

    try:
        transformer = copy.deepcopy(pipeline.transformer)
        quantize_(transformer, float8_dynamic_activation_float8_weight())
        transformer = torch.compile(transformer, mode="max-autotune-no-cudagraphs")
        fast = type(pipeline).from_pipe(pipeline, transformer=transformer)
        fast.set_progress_bar_config(disable=True)
    except Exception as exc:  # a failed optimisation must not take the model down
        log.warning("go_fast is unavailable: %s", exc)
        return None, f"fp8 quantization failed ({exc}); running in bf16"
    return fast, ""
