"""The LoRA models' inputs that name LoRAs, and the models whose weights they run on.

Their schemas are the catalog's (``replicast.models.catalog.lora``).
"""

from __future__ import annotations

from replicast.models.catalog import lora

DEV_LORA = lora.DEV_LORA
SCHNELL_LORA = lora.SCHNELL_LORA

BASE_MODELS: dict[str, str] = {s.name: s.runs_on for s in lora.SPECS if s.runs_on}
"""Each LoRA model's base: the model whose weights (and loaded pipeline) it runs on."""

SCALES = {"lora_weights": "lora_scale", "extra_lora": "extra_lora_scale"}
"""The inputs naming a LoRA, in order, each with the input holding its scale."""

BASE_NAMES: dict[str, str] = {"black-forest-labs/flux-dev": "FLUX.1 [dev]",
                              "black-forest-labs/flux-schnell": "FLUX.1 [schnell]"}
"""The bases' names for people, as errors name them."""
