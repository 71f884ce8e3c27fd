"""Model weights on disk: where each FLUX model's live, whether they are there, and pulling them.

``$REPLICAST_WEIGHTS_DIR/<owner>/<name>/`` holds a model in diffusers' ``save_pretrained``
layout (``model_index.json`` beside one folder per component), which is what the hub
repositories below contain.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from replicast.errors import ConfigError
from replicast.models import flux_spec

# Replicast's model name -> the hub repository its open weights come from.
HUB_REPOSITORIES = {
    flux_spec.SCHNELL: "black-forest-labs/FLUX.1-schnell",
    flux_spec.DEV: "black-forest-labs/FLUX.1-dev",
    flux_spec.KONTEXT_PRO: "black-forest-labs/FLUX.1-Kontext-dev",
}
SAFETY_CHECKER = "safety-checker"
"""Folder (beside the models) of an optional ``StableDiffusionSafetyChecker``."""
_WANTED = ["model_index.json", "*/config.json", "*/*.safetensors", "*/*.json", "*/*.txt",
           "*/*.model", "*/*.safetensors.index.json"]


@dataclass(frozen=True, slots=True)
class WeightsStatus:
    """What a model's weights folder holds."""

    model: str
    folder: Path
    present: bool
    runnable: bool
    """Present, and the ``flux`` extra (torch, diffusers) is installed."""

    @property
    def served_by(self) -> str:
        return "diffusers" if self.runnable else "stand-in"

    @property
    def reason(self) -> str:
        """Why the model is real or a stand-in, for people."""
        if self.runnable:
            return f"diffusers, weights in {self.folder}"
        if self.present:
            return (f"stand-in: weights are in {self.folder} but the flux extra is not "
                    "installed (pip install 'replicast[flux]')")
        return f"stand-in: no weights in {self.folder}"


def flux_installed() -> bool:
    """Whether torch and diffusers can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "diffusers"))


def status(weights_dir: Path, model: str) -> WeightsStatus:
    """Whether ``model`` has weights under ``weights_dir`` and can run them."""
    folder = weights_dir / model
    present = (folder / "model_index.json").is_file()
    return WeightsStatus(model, folder, present, present and flux_installed())


def pull(weights_dir: Path, model: str, token: str | None = None) -> Path:
    """Download ``model``'s weights from the Hugging Face hub into its folder."""
    repository = HUB_REPOSITORIES.get(model)
    if repository is None:
        raise ConfigError(f"{model} has no weights to pull; known: {', '.join(HUB_REPOSITORIES)}")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise ConfigError("pulling weights needs the flux extra: "
                          "pip install 'replicast[flux]'") from None
    folder = weights_dir / model
    folder.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repository, local_dir=folder, allow_patterns=_WANTED, token=token)
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ConfigError(f"could not download {repository} into {folder}: {exc}. Gated "
                          "repositories need HF_TOKEN and their license accepted.") from exc
    return folder
