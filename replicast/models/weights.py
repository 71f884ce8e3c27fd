"""Model weights on disk: where each FLUX model's live, whether they are there, and pulling them.

``$REPLICAST_WEIGHTS_DIR/<owner>/<name>/`` holds a model in diffusers' ``save_pretrained``
layout (``model_index.json`` beside one folder per component), which is what the hub
repositories below contain. Models that use the same text encoder share one copy of it:
``pull`` stores their ``text_encoder/`` and ``tokenizer/`` once, under
``text-encoders/<name>/`` beside the models, and leaves them out of each model's folder
(a model folder that has its own still uses its own). The LoRA models have no folder
of their own: they run on their base model's (flux-dev-lora on flux-dev's).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from replicast.errors import ConfigError
from replicast.models import flux_spec
from replicast.models.catalog import flux2
from replicast.models.lora import spec as lora_spec

# Replicast's model name -> the hub repository its open weights come from.
HUB_REPOSITORIES = {
    flux_spec.SCHNELL: "black-forest-labs/FLUX.1-schnell",
    flux_spec.DEV: "black-forest-labs/FLUX.1-dev",
    flux_spec.KONTEXT_PRO: "black-forest-labs/FLUX.1-Kontext-dev",
    flux2.DEV: "black-forest-labs/FLUX.2-dev",
    flux2.KLEIN_4B: "black-forest-labs/FLUX.2-klein-4B",
    flux2.KLEIN_9B: "black-forest-labs/FLUX.2-klein-9B",
    flux2.KLEIN_4B_BASE: "black-forest-labs/FLUX.2-klein-base-4B",
    flux2.KLEIN_9B_BASE: "black-forest-labs/FLUX.2-klein-base-9B",
    lora_spec.DEV_LORA: "black-forest-labs/FLUX.1-dev",
    lora_spec.SCHNELL_LORA: "black-forest-labs/FLUX.1-schnell",
}
SHARED_TEXT_ENCODERS = {
    flux2.KLEIN_4B: "qwen3-4b",
    flux2.KLEIN_4B_BASE: "qwen3-4b",
    flux2.KLEIN_9B: "qwen3-8b",
    flux2.KLEIN_9B_BASE: "qwen3-8b",
}
"""Models whose text encoder is another's too: the folder under ``text-encoders/`` that
holds it for all of them (Qwen3-4B for the klein 4B pair, Qwen3-8B for the 9B pair)."""
TEXT_ENCODERS = "text-encoders"
ENCODER_PARTS = ("text_encoder", "tokenizer")
SAFETY_CHECKER = "safety-checker"
"""Folder (beside the models) of an optional ``StableDiffusionSafetyChecker``."""
_FILES = ["*.safetensors", "*.json", "*.txt", "*.model", "*.jinja"]
_WANTED = ["model_index.json", *(f"*/{pattern}" for pattern in _FILES)]
_ENCODER_FILES = [f"{part}/{pattern}" for part in ENCODER_PARTS for pattern in _FILES]
_NEEDS = {"PixtralProcessor": "torchvision"}
"""Component classes that need a package beyond the flux extra (FLUX.2 [dev]'s processor)."""


@dataclass(frozen=True, slots=True)
class WeightsStatus:
    """What a model's weights folder holds."""

    model: str
    folder: Path
    present: bool
    runnable: bool
    """Present, complete, and the ``flux`` extra (torch, diffusers) is installed."""
    encoder: Path | None = None
    """The shared folder its text encoder comes from; None: its own folder has it."""
    missing: str = ""
    """What keeps weights that are present from running, for people."""

    @property
    def served_by(self) -> str:
        return "diffusers" if self.runnable else "stand-in"

    @property
    def reason(self) -> str:
        """Why the model is real or a stand-in, for people."""
        if self.runnable:
            shared = f", text encoder shared from {self.encoder}" if self.encoder else ""
            return f"diffusers, weights in {self.folder}{shared}"
        if self.present and self.missing:
            return f"stand-in: weights are in {self.folder} but {self.missing}"
        if self.present:
            return (f"stand-in: weights are in {self.folder} but the flux extra is not "
                    "installed (pip install 'replicast[flux]')")
        return f"stand-in: no weights in {self.folder}"


def flux_installed() -> bool:
    """Whether torch and diffusers can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "diffusers"))


def encoder_folder(weights_dir: Path, model: str) -> Path | None:
    """The shared folder ``model`` takes its text encoder and tokenizer from, or None when
    it shares none or its own folder has them."""
    shared = SHARED_TEXT_ENCODERS.get(model)
    if shared is None or (weights_dir / model / "text_encoder").is_dir():
        return None
    return weights_dir / TEXT_ENCODERS / shared


def folder_of(weights_dir: Path, model: str) -> Path:
    """The folder of ``model``'s weights: its own, or, for a LoRA model, its base's."""
    return weights_dir / lora_spec.BASE_MODELS.get(model, model)


def status(weights_dir: Path, model: str) -> WeightsStatus:
    """Whether ``model`` has weights under ``weights_dir`` and can run them."""
    folder = folder_of(weights_dir, model)
    present = (folder / "model_index.json").is_file()
    encoder = encoder_folder(weights_dir, model)
    missing = ""
    if present and encoder is not None and not (encoder / "text_encoder" / "config.json"
                                                ).is_file():
        missing = f"its text encoder is in neither {folder / 'text_encoder'} nor {encoder}"
    elif present:
        missing = _missing_package(folder)
    return WeightsStatus(model, folder, present, present and not missing and flux_installed(),
                         encoder, missing)


def _missing_package(folder: Path) -> str:
    """What a component of the pipeline in ``folder`` needs and cannot import ("": none)."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError) as exc:
        return f"its model_index.json cannot be read ({exc})"
    for component, spec in index.items():
        cls = spec[1] if isinstance(spec, list) and len(spec) == 2 else None
        package = _NEEDS.get(cls) if isinstance(cls, str) else None
        if package and importlib.util.find_spec(package) is None:
            return (f"its {component} ({cls}) needs {package}: install the {package} build "
                    "that matches your torch")
    return ""


def pull(weights_dir: Path, model: str, token: str | None = None) -> Path:
    """Download ``model``'s weights from the Hugging Face hub into its folder; a text
    encoder it shares goes to the shared folder, once for all the models that use it."""
    repository = HUB_REPOSITORIES.get(model)
    if repository is None:
        raise ConfigError(f"{model} has no weights to pull; known: {', '.join(HUB_REPOSITORIES)}")
    folder = folder_of(weights_dir, model)
    shared = SHARED_TEXT_ENCODERS.get(model)
    if shared is None:
        _download(repository, folder, _WANTED, [], token)
        return folder
    _download(repository, folder, _WANTED, [f"{part}/*" for part in ENCODER_PARTS], token)
    # Already there for the model's twin: the hub client finds the files and skips them.
    _download(repository, weights_dir / TEXT_ENCODERS / shared, _ENCODER_FILES, [], token)
    return folder


def _download(repository: str, folder: Path, wanted: list[str], unwanted: list[str],
              token: str | None) -> None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise ConfigError("pulling weights needs the flux extra: "
                          "pip install 'replicast[flux]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repository, local_dir=folder, allow_patterns=wanted,
                          ignore_patterns=unwanted or None, token=token)
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ConfigError(f"could not download {repository} into {folder}: {exc}. Gated "
                          "repositories need HF_TOKEN and their license accepted.") from exc
