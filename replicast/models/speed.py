"""What makes a loaded FLUX pipeline fast, beyond its weights' precision.

- ``attention``: the fastest attention kernel diffusers can run here (flash attention
  when its package is installed, then cuDNN's through PyTorch, else PyTorch's default).
- ``fuse_qkv``: one projection for each attention's query, key and value (a copy of the
  transformer that takes no LoRA, as go_fast's is).
- ``compile_vae``: the VAE in ``channels_last`` with its decoder compiled, which decodes
  every image and preview.
- ``step_cache``: First-Block-Cache, which skips the rest of a denoising step when its
  first block changed the latents less than a threshold since the step before: fewer
  transformer passes, at a quality cost that grows with the threshold.
- ``warm_up``: one call per size (and batch shape) the model's schema allows, so that no
  request pays a compilation.

Each is best effort: one that fails is logged, and the pipeline runs without it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tuning:
    """How far a FLUX runner goes for speed (``REPLICAST_STEP_CACHE``,
    ``REPLICAST_COMPILE``, ``REPLICAST_WARM_UP``)."""

    step_cache: float = 0.0
    """First-Block-Cache threshold of the ``go_fast`` pipelines; 0: no cache."""
    compile: bool = True
    """Compile the go_fast transformer and the VAE decoder on a CUDA GPU."""
    warm_up: bool = True
    """Run every size once at setup where something was compiled."""


DEFAULT_TUNING = Tuning()

ATTENTION_BACKENDS = ("flash", "_native_cudnn")
"""Tried in order on a CUDA GPU; PyTorch's scaled dot-product attention otherwise."""


def attention(transformer: Any, device: str) -> str:
    """Set the fastest attention kernel available on ``device``; its name."""
    if not device.startswith("cuda"):
        return "native"
    for name in ATTENTION_BACKENDS:
        try:
            transformer.set_attention_backend(name)
        except Exception as exc:  # its package is missing, or this GPU cannot run it
            log.debug("attention backend %s is unavailable: %s", name, exc)
            continue
        return name
    return "native"


def fuse_qkv(transformer: Any) -> None:
    """Fuse each attention's query, key and value projections (no LoRA can be loaded
    onto the transformer afterwards: PEFT adapts the separate projections)."""
    transformer.fuse_qkv_projections()


def compile_vae(torch: Any, pipeline: Any) -> str:
    """``channels_last`` and a compiled decoder for the pipeline's VAE (CUDA only); a
    note of what was done."""
    try:
        pipeline.vae.to(memory_format=torch.channels_last)
        pipeline.vae.decoder = torch.compile(pipeline.vae.decoder,
                                             mode="max-autotune-no-cudagraphs")
    except Exception as exc:
        log.warning("the VAE decoder could not be compiled: %s", exc)
        return f"VAE decoder not compiled ({exc})"
    return "VAE decoder compiled"


def step_cache(transformer: Any, threshold: float) -> None:
    """First-Block-Cache on ``transformer`` at ``threshold`` (above 0)."""
    from diffusers import FirstBlockCacheConfig

    transformer.enable_cache(FirstBlockCacheConfig(threshold=threshold))


def warm_up(pipeline: Any, sizes: Iterable[tuple[int, int]], *, batches: Iterable[int] = (1, 2),
            extra: dict[str, Any] | None = None) -> float:
    """One one-step call at each size and batch size, decoded, so that compiled code
    exists for each before a request needs it (after two shapes ``torch.compile`` makes
    the changing sizes dynamic); the seconds it took."""
    began = time.monotonic()
    for width, height in sizes:
        for batch in batches:
            pipeline(prompt=["warm-up"] * batch, width=width, height=height,
                     num_inference_steps=1, output_type="pil", **(extra or {}))
    return time.monotonic() - began


SIZE_INPUTS = ("aspect_ratio", "megapixels", "output_megapixels", "resolution")
"""The choice inputs that decide a catalog model's output size."""


def schema_sizes(model: str) -> list[tuple[int, int]]:
    """Every (width, height) a text-to-image request of catalog ``model`` can ask for
    through its choices (``custom`` sizes and sizes that follow an input image are
    compiled when first asked for)."""
    from replicast.models import catalog
    from replicast.models.schema import NO_DEFAULT, REQUIRED

    spec = catalog.spec(model)
    fields = {field.name: field for field in spec.inputs}
    axes = [name for name in SIZE_INPUTS if name in fields and fields[name].choices]
    defaults = {field.name: field.default for field in spec.inputs
                if field.default not in (REQUIRED, NO_DEFAULT)}
    sizes = set()
    for combination in itertools.product(*(fields[axis].choices or () for axis in axes)):
        inputs = {**defaults, **dict(zip(axes, combination, strict=True))}
        if inputs.get("aspect_ratio") in ("custom", "match_input_image"):
            continue
        try:
            sizes.add(tuple(spec.size(inputs, [])))
        except (KeyError, ValueError):  # a combination the rule needs more inputs for
            continue
    return sorted(sizes)  # type: ignore[arg-type]
