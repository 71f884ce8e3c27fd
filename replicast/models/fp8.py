"""``go_fast``: an fp8 copy of a loaded pipeline's transformer, where the GPU allows one."""

from __future__ import annotations

import copy
import logging
from typing import Any

log = logging.getLogger(__name__)


def fast_pipeline(torch: Any, pipeline: Any, device: str) -> tuple[Any, str]:
    """The ``go_fast`` variant of a loaded pipeline, or None and why there is none.

    fp8 (dynamic activation and weight quantization through torchao) of a copy of the
    transformer, compiled with ``torch.compile``; the text encoders and the VAE are
    shared with the full-precision pipeline. Needs a CUDA GPU with fp8 (compute
    capability 8.9, Ada or Hopper) and the ``fast`` extra.
    """
    if not device.startswith("cuda"):
        return None, "fp8 needs a CUDA GPU; running in full precision on the CPU"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return None, "this GPU has no fp8 support; running in bf16"
    try:
        from torchao.quantization import float8_dynamic_activation_float8_weight, quantize_
    except ImportError:
        return None, "torchao is not installed (pip install 'replicast[fast]'); running in bf16"
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
