"""Text encoders that several models share, loaded once and handed to each pipeline.

FLUX.2 [klein] 4B and its base variant read prompts with the same Qwen3-4B, 9B and 9B
base with the same Qwen3-8B. ``replicast weights pull`` stores such an encoder once
(``weights.encoder_folder``); this loads it once per process, on the first model that
needs it, and gives the same modules to every pipeline that names it, through diffusers'
``from_pretrained(text_encoder=..., tokenizer=...)``.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PARTS = ("text_encoder", "tokenizer")


class SharedEncoders:
    """Loaded text encoders and tokenizers, by folder, device and dtype."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str, str], dict[str, Any]] = {}

    def components(self, folder: Path, model_folder: Path, device: str,
                   dtype: Any) -> dict[str, Any]:
        """``text_encoder`` and ``tokenizer`` from ``folder``, of the classes that the
        pipeline in ``model_folder`` names; loaded on the first call (runs on whichever
        device thread calls it, so it blocks)."""
        key = (folder.resolve(), device, str(dtype))
        with self._lock:
            found = self._loaded.get(key)
            if found is None:
                found = _load(folder, _classes(model_folder), device, dtype)
                self._loaded[key] = found
                log.info("text encoder %s: loaded on %s, shared by the models that use it",
                         folder, device)
            return found


def _classes(model_folder: Path) -> dict[str, str]:
    """The transformers class of each shared part, as the pipeline's model_index.json says."""
    index = json.loads((model_folder / "model_index.json").read_text())
    return {part: index[part][1] for part in PARTS}


def _load(folder: Path, classes: dict[str, str], device: str, dtype: Any) -> dict[str, Any]:
    import transformers

    encoder = getattr(transformers, classes["text_encoder"]).from_pretrained(
        folder / "text_encoder", local_files_only=True, dtype=dtype).to(device)
    tokenizer = getattr(transformers, classes["tokenizer"]).from_pretrained(
        folder / "tokenizer", local_files_only=True)
    return {"text_encoder": encoder.eval(), "tokenizer": tokenizer}
