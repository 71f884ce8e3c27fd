"""FLUX pipelines at their real size with random weights (``REPLICAST_RANDOM_WEIGHTS``).

A GPU runs a pipeline as fast whatever its weights' values, so a pipeline built from the
published architectures (``configs/full.json``) and filled with random numbers times
exactly as the real model does, without downloading tens of gigabytes. Its images are
noise. ``configs/tiny.json`` holds the same architectures a few thousand parameters
wide, for tests and dry runs on a CPU.

Each module is built with its parameters on the ``meta`` device (no memory, no per-layer
initialisation), then each parameter is made on the target device in the target dtype
and filled there by one random kernel: a 12-billion-parameter transformer takes seconds
on a GPU. Buffers (rotary frequencies, position ids, batch-norm statistics) are built
for real, as the modules compute them. The tokenizers are ``offline_tokenizers``'.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from replicast.models.catalog import flux1, flux2, kontext

SIZES = ("full", "tiny")


@dataclass(frozen=True, slots=True)
class Recipe:
    """What one model's pipeline is made of: a config (from ``configs/``) per module."""

    pipeline: str
    """The diffusers pipeline class."""
    modules: dict[str, str]
    """Pipeline argument -> the config that builds it."""
    tokenizers: dict[str, str]
    """Pipeline argument -> the ``offline_tokenizers`` function that makes it."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other pipeline arguments."""


def _flux1(pipeline: str, variant: str) -> Recipe:
    return Recipe(pipeline, {
        "transformer": f"flux1-{variant}-transformer", "text_encoder": "clip-l",
        "text_encoder_2": "t5-xxl", "vae": "flux1-vae", "scheduler": f"flux1-{variant}-scheduler",
    }, {"tokenizer": "clip", "tokenizer_2": "t5"})


def _klein(size: str, distilled: bool) -> Recipe:
    encoder = {"4b": "qwen3-4b", "9b": "qwen3-8b"}[size]
    return Recipe("Flux2KleinPipeline", {
        "transformer": f"flux2-klein-{size}-transformer", "text_encoder": encoder,
        "vae": "flux2-vae", "scheduler": "flux2-scheduler",
    }, {"tokenizer": "qwen"}, {"is_distilled": distilled})


RECIPES = {
    flux1.SCHNELL: _flux1("FluxPipeline", "schnell"),
    flux1.DEV: _flux1("FluxPipeline", "dev"),
    kontext.KONTEXT_PRO: _flux1("FluxKontextPipeline", "dev"),
    flux2.DEV: Recipe("Flux2Pipeline", {
        "transformer": "flux2-dev-transformer", "text_encoder": "mistral-small-3.1",
        "vae": "flux2-vae", "scheduler": "flux2-scheduler",
    }, {"tokenizer": "mistral"}),
    flux2.KLEIN_4B: _klein("4b", distilled=True),
    flux2.KLEIN_4B_BASE: _klein("4b", distilled=False),
    flux2.KLEIN_9B: _klein("9b", distilled=True),
    flux2.KLEIN_9B_BASE: _klein("9b", distilled=False),
}
"""The models that can run on random weights, by the name of the model whose weights
they stand for."""


@cache
def _configs(size: str) -> dict[str, Any]:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    text = resources.files("replicast.models").joinpath("configs", f"{size}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def spec(size: str, name: str) -> tuple[str, dict[str, Any]]:
    """The class (``package.Class``) and config of component ``name`` at ``size``."""
    entry = _configs(size)[name]
    if "like" in entry:
        cls, config = spec(size, entry["like"])
        return cls, {**config, **copy.deepcopy(entry["config"])}
    return entry["class"], copy.deepcopy(entry["config"])


def construct(size: str, name: str, **overrides: Any) -> Any:
    """Component ``name`` at ``size``, built as its class builds it (a scheduler, or a
    module with its own initialisation on the CPU)."""
    import importlib

    cls_name, config = spec(size, name)
    config.update(overrides)
    package, _, attribute = cls_name.partition(".")
    cls = getattr(importlib.import_module(package), attribute)
    if package == "transformers":
        from transformers import AutoConfig

        return cls(AutoConfig.for_model(**config))
    return cls(**config)


def empty(size: str, name: str, **overrides: Any) -> Any:
    """Module ``name`` at ``size`` with its parameters on the ``meta`` device."""
    import torch

    with _parameters_on_meta(torch):
        module = construct(size, name, **overrides)
    return module


def parameter_count(module: Any) -> int:
    """How many parameters ``module`` has (a tied one once)."""
    return sum(parameter.numel() for parameter in module.parameters())


def build(model: str, size: str, device: str, dtype: Any) -> Any:
    """``model``'s pipeline at ``size`` on ``device``, its weights random in ``dtype``."""
    import diffusers
    import torch

    from replicast.models import offline_tokenizers

    recipe = RECIPES[model]
    components: dict[str, Any] = {
        name: getattr(offline_tokenizers, kind)() for name, kind in recipe.tokenizers.items()
    }
    generator = torch.Generator(device=device).manual_seed(0)
    for name, config in recipe.modules.items():
        overrides = {}
        if config == "mistral-small-3.1":  # its image token is the tokenizer's
            overrides["image_token_index"] = components["tokenizer"].convert_tokens_to_ids(
                "[IMG]")
        if name == "scheduler":
            components[name] = construct(size, config)
            continue
        module = empty(size, config, **overrides)
        _materialize(torch, module, device, dtype, generator)
        components[name] = module
    pipeline = getattr(diffusers, recipe.pipeline)(**components, **recipe.extra)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@contextlib.contextmanager
def _parameters_on_meta(torch: Any) -> Iterator[None]:
    """Every parameter registered meanwhile is moved to the ``meta`` device as it is
    registered, so the initialisation that follows costs nothing; buffers stay real.
    (The caller holds ``LOADING``: this patches ``torch.nn.Module`` for the process.)"""
    original = torch.nn.Module.register_parameter

    def register(module: Any, name: str, parameter: Any) -> None:
        # One already on meta is kept as it is: a tied parameter stays one object.
        if parameter is not None and parameter.device.type != "meta":
            parameter = torch.nn.Parameter(parameter.to("meta"),
                                           requires_grad=parameter.requires_grad)
        original(module, name, parameter)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def _materialize(torch: Any, module: Any, device: str, dtype: Any, generator: Any) -> None:
    """Give ``module``'s meta parameters storage on ``device`` in ``dtype``, filled with
    values of a sensible scale: weights uniform in ±1/sqrt(fan-in) (so activations stay
    finite through every block), norm scales 1, biases 0."""
    made: dict[int, Any] = {}
    for owner in module.modules():
        for name, parameter in list(owner._parameters.items()):
            if parameter is None:
                continue
            real = made.get(id(parameter))
            if real is None:
                kind = dtype if parameter.is_floating_point() else parameter.dtype
                data = torch.empty(parameter.shape, device=device, dtype=kind)
                with torch.no_grad():
                    if data.dim() >= 2:
                        bound = 1.0 / math.sqrt(data[0].numel())
                        data.uniform_(-bound, bound, generator=generator)
                    elif name == "weight":
                        data.fill_(1.0)
                    else:
                        data.zero_()
                real = made[id(parameter)] = torch.nn.Parameter(data, requires_grad=False)
            owner._parameters[name] = real
    module.to(device)
    if type(module).__module__.startswith("diffusers"):
        # As diffusers' from_pretrained(torch_dtype=...) leaves them (transformers keeps
        # its buffers, rotary frequencies, in float32).
        for owner in module.modules():
            for name, buffer in list(owner._buffers.items()):
                if buffer is not None and buffer.is_floating_point():
                    owner._buffers[name] = buffer.to(dtype)
    module.eval()


def check(models: tuple[str, ...], size: str) -> None:
    """Refuse ``REPLICAST_RANDOM_WEIGHTS`` naming a model that cannot run on random
    weights, or a size there are no configs for."""
    from replicast.errors import ConfigError

    for model in models:
        if model not in RECIPES:
            raise ConfigError(f"REPLICAST_RANDOM_WEIGHTS: {model} cannot run on random weights; "
                              f"these can: {', '.join(RECIPES)}")
    if size not in SIZES:
        raise ConfigError(f"REPLICAST_RANDOM_WEIGHTS_SIZE={size!r} must be one of "
                          f"{', '.join(SIZES)}")
