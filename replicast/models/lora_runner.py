"""flux-dev-lora and flux-schnell-lora for real: the base model's runner, with LoRAs.

A LoRA model has no weights of its own: it runs on the ``FluxRunner`` of its base
(flux-dev-lora on flux-dev's), sharing its loaded pipeline, device thread and queue of
pipeline calls. Each prediction fetches the LoRAs its ``lora_weights`` and
``extra_lora`` name (``LoraLibrary``: cached, checked to fit the base model, pinned in
the cache until the run ends), then asks the base runner for a run with them loaded.
Fetching overlaps other predictions' denoising; only the call itself waits its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from replicast.models.base import RunContext, Runner
from replicast.models.flux import FluxRunner
from replicast.models.lora import spec as lora_spec
from replicast.models.lora.apply import Wanted, adapter_name
from replicast.models.lora.check import FluxShape
from replicast.models.lora.library import LoraLibrary

log = logging.getLogger(__name__)

class LoraRunner(Runner):
    """Runs one LoRA model's predictions on its base model's runner."""

    served_by = "diffusers"

    def __init__(self, model: str, base: FluxRunner, library: LoraLibrary) -> None:
        if not base.takes_loras:
            raise ValueError(f"{base.model} takes no LoRAs")
        self.model = model
        self.base = base
        self.library = library
        self.concurrency = base.concurrency
        self._shape: FluxShape | None = None
        self._shape_lock = asyncio.Lock()

    @property
    def slot_pool(self) -> object:
        return self.base.slot_pool  # the base model's predictions and these share its slots

    async def setup(self) -> None:
        await self.base.setup()

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        with contextlib.ExitStack() as pins:  # the LoRAs stay in the cache until loaded
            loras = await self._loras(context, inputs, pins)
            return await self.base.run(context, inputs, loras)

    async def shape(self) -> FluxShape:
        """The sizes of the base model's layers, which a LoRA must fit."""
        async with self._shape_lock:
            if self._shape is None:
                name = lora_spec.BASE_NAMES.get(self.base.model, self.base.model)
                self._shape = await asyncio.to_thread(FluxShape.read, self.base.folder, name)
        return self._shape

    async def _loras(self, context: RunContext, inputs: dict[str, Any],
                     pins: contextlib.ExitStack) -> list[Wanted]:
        """The LoRAs the input names, fetched, checked and pinned, in input order."""
        named = {field: value.strip() for field in lora_spec.SCALES
                 if isinstance(value := inputs.get(field), str) and value.strip()}
        if "extra_lora" in named and named["extra_lora"] == named.get("lora_weights"):
            del named["extra_lora"]
            context.log("extra_lora is the same as lora_weights; it is ignored\n")
            log.info("%s: extra_lora is the same as lora_weights; ignored", self.model)
        if not named:
            return []
        shape = await self.shape()
        wanted: list[Wanted] = []
        for field, value in named.items():
            cached = await self.library.fetch(context, field, value, shape,
                                              token=inputs.get("hf_api_token") or None)
            pins.callback(self.library.cache.unpin, cached.digest)
            name = adapter_name(cached.digest)
            if any(w.name == name for w in wanted):
                context.log(f"{field} holds the same LoRA as lora_weights; it is ignored\n")
                continue
            scale = float(inputs.get(lora_spec.SCALES[field], 1.0))
            wanted.append(Wanted(field, name, cached.path, scale))
            context.log(f"Using {field} at scale {scale:g}\n")
        return wanted
