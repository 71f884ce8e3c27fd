"""An optional safety checker: drops images it flags, as Replicate's FLUX models do.

Loaded from ``$REPLICAST_WEIGHTS_DIR/safety-checker/`` when that folder holds a
diffusers ``StableDiffusionSafetyChecker`` (``save_pretrained`` layout) and its CLIP
image processor. Without it, images are not checked, and the logs say so.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from replicast.models.loading import LOADING


class SafetyChecker:
    """Flags images. Loads on first use, on whatever thread calls it."""

    def __init__(self, folder: Path, device: str = "auto") -> None:
        self.folder = folder
        self.device = device
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    @staticmethod
    def present(folder: Path) -> bool:
        """Whether ``folder`` holds a safety checker."""
        return (folder / "config.json").is_file() and (
            folder / "preprocessor_config.json").is_file()

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is not None:
            return self._loaded
        with self._lock, LOADING:
            if self._loaded is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import torch
                    from diffusers.pipelines.stable_diffusion.safety_checker import (
                        StableDiffusionSafetyChecker,
                    )
                    from transformers import CLIPImageProcessor

                    if self.device == "auto":
                        self.device = "cuda" if torch.cuda.is_available() else "cpu"
                    checker = StableDiffusionSafetyChecker.from_pretrained(
                        self.folder, local_files_only=True).to(self.device).eval()
                    processor = CLIPImageProcessor.from_pretrained(self.folder,
                                                                   local_files_only=True)
                self._loaded = (torch, checker, processor)
            return self._loaded

    def flags(self, images: list[Any]) -> list[bool]:
        """For each image, whether it was flagged."""
        import numpy

        torch, checker, processor = self._load()
        features = processor(images, return_tensors="pt").pixel_values.to(self.device)
        arrays = numpy.stack([numpy.asarray(image, dtype=numpy.float32) / 255
                              for image in images])
        with torch.no_grad():
            _, flagged = checker(images=arrays, clip_input=features.to(checker.dtype))
        return [bool(flag) for flag in flagged]
