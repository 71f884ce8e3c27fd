"""``go_fast``: an fp8 copy of a loaded pipeline's transformer, where the GPU allows one."""

from __future__ import annotations

import copy
import logging
from typing import Any

from replicast.models import speed
from replicast.models.speed import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)


def fast_pipeline(torch: Any, pipeline: Any, device: str,
                  tuning: Tuning = DEFAULT_TUNING) -> tuple[Any, str]:
    """The ``go_fast`` variant of a loaded pipeline, or None and why there is none.

    A copy of the transformer, shared with no LoRA: on a CUDA GPU with fp8 (compute
    capability 8.9, Ada or Hopper) and the ``fast`` extra, its attention projections
    fused, fp8 (dynamic activation and weight quantization through torchao) and compiled
    with ``torch.compile``; with ``tuning.step_cache``, First-Block-Cache on it, on any
    device. The text encoders and the VAE are shared with the full-precision pipeline.
    """
    fp8, why = _fp8_available(torch, device)
    if not fp8 and not tuning.step_cache:
        return None, why
    try:
        transformer = copy.deepcopy(pipeline.transformer)
        done = []
        if fp8:
            from torchao.quantization import float8_dynamic_activation_float8_weight, quantize_

            speed.attention(transformer, device)
            speed.fuse_qkv(transformer)
            quantize_(transformer, float8_dynamic_activation_float8_weight())
            done.append("fp8")
        if tuning.step_cache:
            speed.step_cache(transformer, tuning.step_cache)
            done.append(f"step cache at {tuning.step_cache:g}")
        if fp8 and tuning.compile:
            transformer = torch.compile(transformer, mode="max-autotune-no-cudagraphs")
            done.append("compiled")
        fast = type(pipeline).from_pipe(pipeline, transformer=transformer)
        fast.set_progress_bar_config(disable=True)
    except Exception as exc:  # a failed optimisation must not take the model down
        log.warning("go_fast is unavailable: %s", exc)
        return None, f"the go_fast transformer could not be made ({exc}); running in bf16"
    log.info("go_fast: %s", ", ".join(done))
    return fast, "" if fp8 else f"{why}; go_fast uses the step cache only"


def _fp8_available(torch: Any, device: str) -> tuple[bool, str]:
    if not device.startswith("cuda"):
        return False, "fp8 needs a CUDA GPU; running in full precision on the CPU"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return False, "this GPU has no fp8 support; running in bf16"
    try:
        import torchao.quantization  # noqa: F401
    except ImportError:
        return False, "torchao is not installed (pip install 'replicast[fast]'); running in bf16"
    return True, ""
