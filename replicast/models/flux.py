"""The FLUX.1 models for real, through Hugging Face diffusers.

flux-schnell and flux-dev run ``FluxPipeline`` (flux-dev's ``image`` input switches to
``FluxImg2ImgPipeline``, sharing the loaded modules); flux-kontext-pro runs
``FluxKontextPipeline`` with the open FLUX.1 Kontext [dev] weights. Loading, the device
thread, progress, cancellation, seeds, the safety checker and encoding are
``DiffusersRunner``'s. The LoRA models (``lora_runner.py``) run on the [dev] and
[schnell] runners with the LoRAs their requests name: before each pipeline call the
pipeline's adapters are set to that call's LoRAs, none for the base models' own calls.
"""

from __future__ import annotations

from typing import Any

from replicast.errors import ModelError
from replicast.models import flux_spec
from replicast.models.base import RunContext
from replicast.models.diffusers_runner import DiffusersRunner, Job
from replicast.models.fp8 import fast_pipeline
from replicast.models.lora.apply import Adapters, LoadFailed, Wanted

KONTEXT_STEPS = 28
KONTEXT_GUIDANCE = 2.5
KONTEXT_QUALITY = 95
MAX_SEQUENCE_LENGTH = {flux_spec.SCHNELL: 256, flux_spec.DEV: 512, flux_spec.KONTEXT_PRO: 512}


class FluxRunner(DiffusersRunner):
    """Runs one FLUX.1 model from its weights folder."""

    _pipeline: Any = None
    _img2img: Any = None
    _fast: Any = None
    _fast_note = ""
    _adapters: Adapters | None = None

    @property
    def takes_loras(self) -> bool:
        """Whether LoRAs can be loaded onto this model (not onto Kontext)."""
        return self.model != flux_spec.KONTEXT_PRO

    def _load(self, torch: Any, device: str, dtype: Any) -> None:
        from diffusers import FluxImg2ImgPipeline, FluxKontextPipeline, FluxPipeline
        from diffusers.utils import logging as diffusers_logging

        # diffusers warns of every LoRA that adapts no text encoder layer.
        diffusers_logging.set_verbosity_error()
        cls = FluxKontextPipeline if self.model == flux_spec.KONTEXT_PRO else FluxPipeline
        pipeline = self._pretrained(cls, device, dtype)
        pipeline.set_progress_bar_config(disable=True)
        if self.model == flux_spec.DEV:
            self._img2img = FluxImg2ImgPipeline.from_pipe(pipeline)
            self._img2img.set_progress_bar_config(disable=True)
        self._pipeline = pipeline
        if self.takes_loras:  # go_fast and LoRAs are no inputs of Kontext's
            self._fast, self._fast_note = fast_pipeline(torch, pipeline, device,
                                                        self.tuning)
            self._adapters = Adapters(pipeline)

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        return await self.run(context, inputs, [])

    async def run(self, context: RunContext, inputs: dict[str, Any],
                  loras: list[Wanted]) -> Any:
        """A prediction of this model, with ``loras`` loaded onto it (fetched and checked
        by the caller, and kept on disk until this returns)."""
        await self._ensure_loaded()
        seed = self._seed(context, inputs)
        source = await self._source_image(context, inputs)
        call = self._call_arguments(inputs, source)
        pipeline = self._pipeline
        if source is not None and self.model == flux_spec.DEV:
            pipeline = self._img2img
        if inputs.get("go_fast"):
            if source is not None:
                context.log("img2img not supported with fp8 quantization; running with bf16\n")
            elif self._fast is not None and loras:
                context.log("go_fast: LoRAs run in bf16 here, at the scales given\n")
            elif self._fast is not None:
                pipeline = self._fast
                context.log(f"go_fast: {self._fast_note}\n" if self._fast_note
                            else "running quantized prediction\n")
            else:
                context.log(f"go_fast: {self._fast_note}\n")
        steps = int(call["num_inference_steps"] * call.get("strength", 1.0))

        def switch() -> None:  # on the device thread, just before the call
            if self._adapters is not None:
                self._switch(self._adapters, loras, context)

        # Text to image batches: those with the same size, steps, guidance and LoRAs.
        batch = None if "image" in call else (
            call["width"], call["height"], steps, call["guidance_scale"],
            call["max_sequence_length"], tuple((w.name, w.scale) for w in loras))
        images = await self._generate(pipeline, call, seed, steps, context, prepare=switch,
                                      image_format=inputs["output_format"],
                                      screened=not inputs.get("disable_safety_checker"),
                                      batch=batch)
        urls = await self._deliver(context, images, inputs, KONTEXT_QUALITY)
        return urls[0] if self.model == flux_spec.KONTEXT_PRO else urls

    def _pipelines(self) -> list[Any]:
        return [p for p in (self._pipeline, self._fast) if p is not None]

    def _batch_arguments(self, pipeline: Any, jobs: list[Job]) -> dict[str, Any]:
        """Each job's prompt encoded and its starting noise drawn as ``FluxPipeline``
        does for it alone (its ``num_outputs`` images from its own generator), then
        stacked: one call, and each job's images are those its seed gives alone."""
        import torch

        device = pipeline._execution_device
        channels = pipeline.transformer.config.in_channels // 4
        embeds, pooled, noise = [], [], []
        for job in jobs:
            call = job.call
            text, summary, _ = pipeline.encode_prompt(
                prompt=call["prompt"], prompt_2=None, device=device,
                num_images_per_prompt=job.images,
                max_sequence_length=call["max_sequence_length"])
            generator = torch.Generator(device=self._device).manual_seed(job.seed)
            latents, _ = pipeline.prepare_latents(job.images, channels, call["height"],
                                                  call["width"], text.dtype, device, generator)
            embeds.append(text)
            pooled.append(summary)
            noise.append(latents)
        arguments = {name: value for name, value in jobs[0].call.items() if name != "prompt"}
        arguments.update(prompt_embeds=torch.cat(embeds), pooled_prompt_embeds=torch.cat(pooled),
                         latents=torch.cat(noise), num_images_per_prompt=1)
        return arguments

    def _decode_preview(self, pipeline: Any, latents: Any, call: dict[str, Any]) -> Any:
        latents = pipeline._unpack_latents(latents, call["height"], call["width"],
                                           pipeline.vae_scale_factor)
        config = pipeline.vae.config
        latents = latents / config.scaling_factor + config.shift_factor
        image = pipeline.vae.decode(latents.to(pipeline.vae.dtype), return_dict=False)[0]
        return pipeline.image_processor.postprocess(image, output_type="pil")[0]

    @staticmethod
    def _switch(adapters: Adapters, loras: list[Wanted], context: RunContext) -> None:
        """Set the pipeline's LoRAs to ``loras``."""
        import time

        began = time.monotonic()
        try:
            fresh = adapters.use(loras)
        except LoadFailed as exc:
            raise ModelError(f"{exc.field}: the LoRA could not be loaded: {exc.reason}"
                             ) from None
        if fresh:
            context.log(f"Loaded {len(fresh)} LoRA(s) in {time.monotonic() - began:.2f} s\n")

    async def _source_image(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        url = inputs.get("input_image") if self.model == flux_spec.KONTEXT_PRO \
            else inputs.get("image")
        if not url:
            return None
        image = await self._read_image(context, url)
        context.log(f"Input image size: {image.width}x{image.height}\n")
        return image

    def _call_arguments(self, inputs: dict[str, Any], source: Any) -> dict[str, Any]:
        """The pipeline's keyword arguments (the generator is made on the device thread)."""
        call: dict[str, Any] = {
            "prompt": inputs["prompt"], "output_type": "pil",
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
            call.update(image=source, strength=inputs["prompt_strength"])
        else:
            width, height = flux_spec.flux_size(inputs["aspect_ratio"], inputs["megapixels"])
        call.update(width=width, height=height, num_images_per_prompt=inputs["num_outputs"],
                    num_inference_steps=inputs["num_inference_steps"],
                    guidance_scale=float(inputs.get("guidance", 0.0)))
        return call
