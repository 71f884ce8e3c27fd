"""What every model run through a Hugging Face diffusers pipeline shares.

A pipeline is loaded once, from a local folder only, and kept. Its calls run one at a
time on a thread of their own (the device thread); a step callback logs progress and
stops the run between steps when the prediction is canceled. Seeds go through a
``torch.Generator``, so the same seed gives the same image. The optional safety checker
drops flagged images; encoding runs on other threads, so it overlaps the next
prediction's denoising. Subclasses say what to load and how Replicate's inputs map onto a
pipeline call.

torch and diffusers are imported only when a model is loaded: the core install does not
need them (``pip install 'replicast[flux]'``).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import time
import warnings
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replicast.errors import ModelError
from replicast.imaging import decode_image, encode_image
from replicast.models import catalog, speed
from replicast.models.base import RunContext, Runner
from replicast.models.batching import Batcher, BatchLimits
from replicast.models.loading import LOADING
from replicast.models.progress import preview_steps, progress_line
from replicast.models.safety import SafetyChecker
from replicast.models.speed import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

MAX_INPUT_PIXELS = 40_000_000


class _Canceled(Exception):
    """Raised from the step callback to leave the pipeline between two steps."""


@dataclass(eq=False, slots=True)
class Job:
    """One prediction's part of a pipeline call."""

    pipeline: Any
    call: dict[str, Any]
    seed: int
    steps: int
    context: RunContext
    prepare: Callable[[], None] | None
    image_format: str
    screened: bool
    dropped: bool = False
    """Set when the prediction has stopped waiting for its images."""
    shared: int = 1
    """How many jobs its images came from one call with."""

    @property
    def images(self) -> int:
        return int(self.call.get("num_images_per_prompt") or 1)

    @property
    def live(self) -> bool:
        return not self.dropped and not self.context.cancel_event.is_set()


class DiffusersRunner(Runner, abc.ABC):
    """Runs one model's predictions through diffusers pipelines loaded from ``folder``."""

    # One prediction denoises while the one before it encodes its images.
    concurrency = 2
    batching: BatchLimits | None = None
    """How predictions that can share a pipeline call are batched; None: each alone."""
    served_by = "diffusers"
    random_weights: str | None = None
    """``full`` or ``tiny``: the pipeline is built at that size with random weights
    (``random_weights.py``) instead of loaded from ``folder`` (REPLICAST_RANDOM_WEIGHTS)."""

    def __init__(self, model: str, folder: Path, *, device: str = "auto",
                 load_at_startup: bool = True, safety: SafetyChecker | None = None,
                 tuning: Tuning = DEFAULT_TUNING, batching: BatchLimits | None = None) -> None:
        self.model = model
        self.folder = folder
        self.device_setting = device
        self.load_at_startup = load_at_startup
        self.safety = safety
        self.tuning = tuning
        self.batching = batching
        if batching is not None:  # a batch runs while the next one gathers
            self.concurrency = max(self.concurrency, 2 * batching.max_size)
        self._batcher: Batcher[Job, list[Any]] = Batcher(batching or BatchLimits(max_size=1),
                                                         self._run_batch)
        self._device_thread = ThreadPoolExecutor(1, thread_name_prefix=f"diffusers-{model}")
        self._load_lock = asyncio.Lock()
        self._loaded = False
        self._device = "cpu"

    async def setup(self) -> None:
        if self.load_at_startup:
            await self._ensure_loaded()

    @abc.abstractmethod
    def _load(self, torch: Any, device: str, dtype: Any) -> None:
        """Load the pipelines onto ``device`` in ``dtype`` (on the device thread)."""

    @property
    def weights_source(self) -> str:
        """Where the weights come from, for people."""
        if self.random_weights is not None:
            return (f"RANDOM weights at {self.random_weights} size (REPLICAST_RANDOM_WEIGHTS: "
                    "real speed, images of noise)")
        return str(self.folder)

    def _pretrained(self, cls: Any, device: str, dtype: Any, **components: Any) -> Any:
        """The pipeline of class ``cls`` on ``device`` in ``dtype``: loaded from the weights
        folder (with ``components`` given, such as a shared text encoder), or built with
        random weights (on the device thread, holding ``LOADING``)."""
        if self.random_weights is not None:
            from replicast.models import random_weights

            return random_weights.build(self.model, self.random_weights, device, dtype)
        return cls.from_pretrained(self.folder, local_files_only=True, torch_dtype=dtype,
                                   **components).to(device)

    async def _on_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._device_thread, function,
                                                                *args)

    async def _ensure_loaded(self) -> None:
        async with self._load_lock:
            if not self._loaded:
                began = time.monotonic()
                await self._on_thread(self._load_quietly)
                self._loaded = True
                log.info("%s: loaded %s on %s in %.1f s", self.model, self.weights_source,
                         self._device, time.monotonic() - began)

    def _load_quietly(self) -> None:
        # Weights come from a local folder only; never wait on a hub that is not there.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch

            device = self.device_setting
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            with LOADING:
                self._load(torch, device, dtype)
                self._tune(torch, device)
            self._device = device

    def _pipelines(self) -> list[Any]:
        """The loaded pipelines that run text-to-image calls (the go_fast one included)."""
        return []

    def _tune(self, torch: Any, device: str) -> None:
        """On a CUDA GPU: the fastest attention kernel for each transformer, the VAE
        decoder compiled, then (``tuning.warm_up``) one call per size the model's schema
        allows, so that no request pays a compilation (on the device thread)."""
        if not device.startswith("cuda") or not self.tuning.compile:
            return
        pipelines = self._pipelines()
        notes = [f"attention: {speed.attention(p.transformer, device)}" for p in pipelines[:1]]
        vaes = {id(p.vae): p for p in pipelines}
        notes += [speed.compile_vae(torch, p) for p in vaes.values()]
        if self.tuning.warm_up and self.model in catalog.SPECS:
            sizes = speed.schema_sizes(self.model)
            seconds = sum(speed.warm_up(p, sizes) for p in pipelines)
            notes.append(f"{len(sizes)} sizes warmed in {seconds:.0f} s")
        log.info("%s: %s", self.model, "; ".join(notes))

    @staticmethod
    def _seed(context: RunContext, inputs: dict[str, Any]) -> int:
        """The input's seed, or one drawn as Replicate's models draw it (0 to 65535); logged."""
        seed = inputs.get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(2), "big")
        context.log(f"Using seed: {seed}\n")
        return int(seed)

    @staticmethod
    async def _read_image(context: RunContext, url: str, what: str = "input image") -> Any:
        """The image behind an input URL, decoded off the event loop."""
        data = await context.fetch_file(url)
        return await asyncio.to_thread(decode_image, data, max_pixels=MAX_INPUT_PIXELS,
                                       what=what)

    async def _generate(self, pipeline: Any, call: dict[str, Any], seed: int, steps: int,
                        context: RunContext,
                        prepare: Callable[[], None] | None = None,
                        image_format: str = "png", screened: bool = True,
                        batch: Hashable | None = None) -> list[Any]:
        """One pipeline call on the device thread, after the predictions before it;
        ``prepare`` runs there just before it (to set the pipeline's adapters). Previews
        the prediction asked for are decoded from the latents between steps and sent
        as ``image_format``, through the safety checker when ``screened``.

        With ``batch`` (what else, beyond the pipeline, must be equal for two calls to
        be one: size, steps, guidance, LoRAs) and batching on, the call may be shared
        with other predictions' (``_batch_arguments``); each still gets the images its
        seed gives alone."""
        job = Job(pipeline, call, seed, steps, context, prepare, image_format, screened)
        key = None if batch is None or self.batching is None else (id(pipeline), batch)
        cost = int(call.get("width", 0)) * int(call.get("height", 0)) * job.images
        try:
            return await self._batcher.submit(job, key, cost)
        except _Canceled:
            raise asyncio.CancelledError() from None
        except asyncio.CancelledError:
            job.dropped = True  # its batch goes on without it
            raise

    async def _run_batch(self, jobs: list[Job]) -> list[list[Any]]:
        for job in jobs:
            job.shared = len(jobs)
            if len(jobs) > 1:
                job.context.log(f"Batched with {len(jobs) - 1} other prediction(s) in one "
                                "pipeline call\n")
        try:
            results: list[list[Any]] = await self._on_thread(self._denoise_jobs, jobs)
        finally:  # canceled or failed predictions too say whom they ran with
            for job in jobs:
                job.context.record_metric("batch_size", job.shared)
        return results

    def _denoise_jobs(self, jobs: list[Job]) -> list[list[Any]]:
        """Each job's images: from one pipeline call, or one each after a batch ran out of
        GPU memory (on the device thread)."""
        import torch

        if len(jobs) > 1:
            try:
                return self._denoise_batch(jobs)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                log.warning("%s: a batch of %d ran out of GPU memory; running them one by one",
                            self.model, len(jobs))
                for job in jobs:
                    job.shared = 1
                    job.context.log("The batch ran out of GPU memory; running alone\n")
        return [self._denoise(job.pipeline, job.call, job.seed, job.steps, job.context,
                              job.prepare, job.image_format, job.screened)
                if job.live or len(jobs) == 1 else [] for job in jobs]

    def _denoise_batch(self, jobs: list[Job]) -> list[list[Any]]:
        """One pipeline call for several jobs of one key. Each job gets its own progress
        lines and previews (of its first image); the call stops between steps once every
        job is canceled."""
        import torch

        first = jobs[0]
        if first.prepare is not None:
            first.prepare()  # the same for every job of the key
        total = first.steps or 1
        points = [preview_steps(total, job.context.previews) for job in jobs]
        offsets = [sum(job.images for job in jobs[:index]) for index in range(len(jobs) + 1)]
        began = time.monotonic()
        for job in jobs:
            job.context.log(progress_line(0, total, 0.0))

        def step(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            done = min(index + 1, total)
            line = progress_line(done, total, time.monotonic() - began)
            live = [job.live for job in jobs]
            for job, running in zip(jobs, live, strict=True):
                if running:
                    job.context.log(line)
            if not any(live):
                raise _Canceled()
            for number, job in enumerate(jobs):
                if live[number] and done in points[number]:
                    start = offsets[number]
                    self._preview(pipe, tensors["latents"][start:start + 1], job.call,
                                  job.context, points[number].index(done), job.image_format,
                                  job.screened)
            return tensors

        with torch.no_grad():
            arguments = self._batch_arguments(first.pipeline, jobs)
        images = list(first.pipeline(callback_on_step_end=step, **arguments).images)
        return [images[offsets[number]:offsets[number + 1]] for number in range(len(jobs))]

    @abc.abstractmethod
    def _batch_arguments(self, pipeline: Any, jobs: list[Job]) -> dict[str, Any]:
        """The keyword arguments of one call for ``jobs`` of one key (on the device thread,
        without gradients), such that each job gets the images its seed gives alone."""

    def _denoise(self, pipeline: Any, call: dict[str, Any], seed: int, steps: int,
                 context: RunContext, prepare: Callable[[], None] | None,
                 image_format: str = "png", screened: bool = True) -> list[Any]:
        import torch

        if prepare is not None:
            prepare()

        total = steps or 1
        points = preview_steps(total, context.previews)
        began = time.monotonic()
        context.log(progress_line(0, total, 0.0))

        def step(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            done = min(index + 1, total)
            context.log(progress_line(done, total, time.monotonic() - began))
            if context.cancel_event.is_set():
                raise _Canceled()
            if done in points:
                self._preview(pipe, tensors["latents"][:1], call, context, points.index(done),
                              image_format, screened)
            return tensors

        generator = torch.Generator(device=self._device).manual_seed(seed)
        try:
            result = pipeline(generator=generator, callback_on_step_end=step, **call)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise ModelError(
                "The GPU ran out of memory for this prediction; try a smaller size or fewer "
                "images"
            ) from exc
        return list(result.images)

    def _preview(self, pipeline: Any, latents: Any, call: dict[str, Any], context: RunContext,
                 index: int, image_format: str, screened: bool) -> None:
        """Send one preview, as the safety checker lets the images through; best effort:
        a preview that cannot be made is skipped, and the run goes on."""
        import torch

        try:
            with torch.no_grad():
                image = self._decode_preview(pipeline, latents, call)
            if screened and self.safety is not None and self.safety.flags([image])[0]:
                context.log(f"Preview {index + 1} was withheld: NSFW content detected\n")
                return
            context.preview(index, encode_image(image, image_format, 80), image_format)
        except Exception as exc:  # OOM at a large size, a pipeline of another shape...
            log.warning("%s: preview %d could not be made: %s", self.model, index + 1, exc)
            context.log(f"Preview {index + 1} could not be made; the run goes on\n")
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()

    @abc.abstractmethod
    def _decode_preview(self, pipeline: Any, latents: Any, call: dict[str, Any]) -> Any:
        """The first image of a call as it stands: its latents between two steps decoded
        by the pipeline's VAE, as the pipeline decodes its result (on the device thread).
        Each model family packs latents its own way."""

    async def _deliver(self, context: RunContext, images: list[Any], inputs: dict[str, Any],
                       default_quality: int = 80) -> list[str]:
        """The images that pass the safety checker, encoded and saved: their URLs."""
        images = await self._checked(context, images, inputs)
        output_format = inputs["output_format"]
        quality = int(inputs.get("output_quality", default_quality))
        files = await asyncio.gather(*(
            asyncio.to_thread(encode_image, image, output_format, quality) for image in images
        ))
        urls = [await context.save_file(f"out-{i}.{output_format}", data)
                for i, data in enumerate(files)]
        context.record_metric("image_count", len(urls))
        return urls

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
