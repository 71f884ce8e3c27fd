"""FLUX.2 [dev] and FLUX.2 [klein] for real, through Hugging Face diffusers.

flux-2-dev runs ``Flux2Pipeline`` (text to image, or guided by up to 4 reference images
in ``input_images``); the four klein models run ``Flux2KleinPipeline`` (``images``, up to
5). The step-distilled klein models run 4 steps, their base variants 50 with real
classifier-free guidance (``guidance``), FLUX.2 [dev] 50 at its embedded guidance 4, as
Black Forest Labs runs them; Replicate's schemas have no steps input. The output size
comes from one injected rule, ``size(model, inputs, reference_sizes)``. Loading, the
device thread, progress, cancellation, seeds, the safety checker and encoding are
``DiffusersRunner``'s; a text encoder shared with another model comes from
``SharedEncoders``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replicast.errors import ModelError
from replicast.models.base import RunContext
from replicast.models.batching import BatchLimits
from replicast.models.catalog import flux2 as spec
from replicast.models.diffusers_runner import DiffusersRunner, Job
from replicast.models.encoders import SharedEncoders
from replicast.models.fp8 import fast_pipeline
from replicast.models.safety import SafetyChecker
from replicast.models.speed import DEFAULT_TUNING, Tuning

SizeRule = Callable[[str, dict[str, Any], list[tuple[int, int]]], tuple[int, int]]
"""``(model, inputs, reference image sizes) -> (width, height)``."""
MAX_SEQUENCE_LENGTH = 512
MIN_REFERENCE_SIDE = 64
MAX_REFERENCE_RATIO = 8
"""What ``Flux2ImageProcessor.check_image_input`` accepts; checked here to name the input."""


@dataclass(frozen=True, slots=True)
class Flux2Variant:
    """How one FLUX.2 model runs."""

    pipeline: str
    """The diffusers pipeline class."""
    steps: int
    guidance: float | None
    """The guidance scale, or None to take the ``guidance`` input."""
    single_output: bool
    """Whether the output is one URL (else a list of them)."""


_KLEIN = Flux2Variant("Flux2KleinPipeline", steps=4, guidance=1.0, single_output=False)
_KLEIN_BASE = Flux2Variant("Flux2KleinPipeline", steps=50, guidance=None, single_output=False)
VARIANTS = {
    spec.DEV: Flux2Variant("Flux2Pipeline", steps=50, guidance=4.0, single_output=True),
    spec.KLEIN_4B: _KLEIN,
    spec.KLEIN_9B: _KLEIN,
    spec.KLEIN_4B_BASE: _KLEIN_BASE,
    spec.KLEIN_9B_BASE: _KLEIN_BASE,
}


class Flux2Runner(DiffusersRunner):
    """Runs one FLUX.2 model from its weights folder."""

    _pipeline: Any = None
    _fast: Any = None
    _fast_note = ""

    def __init__(self, model: str, folder: Path, *, size: SizeRule,
                 encoder: Path | None = None, encoders: SharedEncoders | None = None,
                 device: str = "auto", load_at_startup: bool = True,
                 safety: SafetyChecker | None = None, tuning: Tuning = DEFAULT_TUNING,
                 batching: BatchLimits | None = None) -> None:
        super().__init__(model, folder, device=device, load_at_startup=load_at_startup,
                         safety=safety, tuning=tuning, batching=batching)
        self.variant = VARIANTS[model]
        self.size = size
        self.encoder = encoder
        self.encoders = encoders or SharedEncoders()
        self.references = spec.reference_inputs(model)

    def _load(self, torch: Any, device: str, dtype: Any) -> None:
        import diffusers

        shared = {} if self.encoder is None else self.encoders.components(
            self.encoder, self.folder, device, dtype)
        pipeline = self._pretrained(getattr(diffusers, self.variant.pipeline), device, dtype,
                                    **shared)
        pipeline.set_progress_bar_config(disable=True)
        self._pipeline = pipeline
        self._fast, self._fast_note = fast_pipeline(torch, pipeline, device,
                                                    self.tuning)

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        await self._ensure_loaded()
        seed = self._seed(context, inputs)
        references = await self._reference_images(context, inputs)
        width, height = self.size(self.model, inputs, [image.size for image in references])
        guidance = self.variant.guidance
        if guidance is None:
            guidance = float(inputs["guidance"])
        call = {
            "prompt": inputs["prompt"], "image": references or None, "width": width,
            "height": height, "num_inference_steps": self.variant.steps,
            "guidance_scale": guidance, "max_sequence_length": MAX_SEQUENCE_LENGTH,
            "output_type": "pil",
        }
        context.log(f"Generating {width}x{height} with {len(references)} reference image(s), "
                    f"{self.variant.steps} steps, guidance {guidance:g}\n")
        pipeline = self._pipeline
        if inputs.get("go_fast"):
            if self._fast is not None:
                pipeline = self._fast
                context.log(f"go_fast: {self._fast_note}\n" if self._fast_note
                            else "running quantized prediction\n")
            else:
                context.log(f"go_fast: {self._fast_note}\n")
        # Text to image batches: those with the same size (the steps and guidance are
        # the model's, but for the base variants' guidance input).
        batch = None if references else (width, height, guidance)
        images = await self._generate(pipeline, call, seed, self.variant.steps, context,
                                      image_format=inputs["output_format"],
                                      screened=not inputs.get("disable_safety_checker"),
                                      batch=batch)
        urls = await self._deliver(context, images, inputs)
        return urls[0] if self.variant.single_output else urls

    def _pipelines(self) -> list[Any]:
        return [p for p in (self._pipeline, self._fast) if p is not None]

    def _batch_arguments(self, pipeline: Any, jobs: list[Job]) -> dict[str, Any]:
        """Each job's prompt encoded alone, as the pipeline encodes it for one (and the
        empty negative prompt of real guidance, once for all), then stacked; a generator
        per job."""
        import torch

        first = jobs[0].call
        device = pipeline._execution_device

        def encoded(prompt: str) -> Any:
            return pipeline.encode_prompt(prompt=prompt, device=device,
                                          max_sequence_length=first["max_sequence_length"])[0]

        arguments = {name: value for name, value in first.items() if name != "prompt"}
        arguments["prompt_embeds"] = torch.cat([encoded(job.call["prompt"]) for job in jobs])
        if first["guidance_scale"] > 1 and "negative_prompt_embeds" in inspect.signature(
                pipeline.__call__).parameters:
            arguments["negative_prompt_embeds"] = encoded("").repeat(len(jobs), 1, 1)
        arguments["generator"] = [torch.Generator(device=self._device).manual_seed(job.seed)
                                  for job in jobs]
        return arguments

    def _decode_preview(self, pipeline: Any, latents: Any, call: dict[str, Any]) -> Any:
        import torch

        # Packed row by row from a grid of 2x2-patchified latents (``_pack_latents``).
        scale = pipeline.vae_scale_factor * 2
        rows, columns = call["height"] // scale, call["width"] // scale
        latents = latents.permute(0, 2, 1).reshape(latents.shape[0], -1, rows, columns)
        vae = pipeline.vae
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps
                         ).to(latents.device, latents.dtype)
        latents = pipeline._unpatchify_latents(latents * std + mean)
        image = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
        return pipeline.image_processor.postprocess(image, output_type="pil")[0]

    async def _reference_images(self, context: RunContext, inputs: dict[str, Any]) -> list[Any]:
        """The reference images, decoded at once, each checked as the pipeline will."""
        named = [(field, index, url) for field in self.references
                 for index, url in enumerate(inputs.get(field) or [])]
        images = await asyncio.gather(*(
            self._read_image(context, url, what=f"image {index + 1} of {field}")
            for field, index, url in named))
        for (field, index, _), image in zip(named, images, strict=True):
            width, height = image.size
            what = f"Image {index + 1} of {field}"
            if min(width, height) < MIN_REFERENCE_SIDE:
                raise ModelError(f"{what} is {width}x{height}; each side must be at least "
                                 f"{MIN_REFERENCE_SIDE} pixels")
            if max(width, height) > MAX_REFERENCE_RATIO * min(width, height):
                raise ModelError(f"{what} is {width}x{height}; its aspect ratio must be at most "
                                 f"{MAX_REFERENCE_RATIO}:1")
            context.log(f"{what}: {width}x{height}\n")
        return list(images)
