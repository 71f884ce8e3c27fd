"""Text encoders that several models share, loaded once and handed to each pipeline.

FLUX.2 [klein] 4B and its base variant read prompts with the same Qwen3-4B, 9B and 9B
base with the same Qwen3-8B. ``replicast weights pull`` stores such an encoder once
(``weights.encoder_folder``); this loads it once per process, on the first model that
needs it, and gives the same module to every pipeline that names it, through diffusers'
``from_pretrained(text_encoder=..., tokenizer=...)``. Each pipeline gets a tokenizer of
its own (a few megabytes): the pipelines run on threads of their own, and a fast
tokenizer used by two threads at once fails ("Already borrowed").
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from replicast.models.loading import LOADING

log = logging.getLogger(__name__)

PARTS = ("text_encoder", "tokenizer")


class SharedEncoders:
    """Loaded text encoders, by folder, device and dtype."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str, str], Any] = {}

    def components(self, folder: Path, model_folder: Path, device: str,
                   dtype: Any) -> dict[str, Any]:
        """``text_encoder`` (shared) and ``tokenizer`` (the caller's own: a tokenizer may
        not be used by two threads at once) from ``folder``, of the classes that the
        pipeline in ``model_folder`` names. The encoder is loaded on the first call (on
        whichever device thread calls it, so it blocks)."""
        classes = _classes(model_folder)
        key = (folder.resolve(), device, str(dtype))
        with self._lock, LOADING:
            encoder = self._loaded.get(key)
            if encoder is None:
                encoder = _load_encoder(folder, classes["text_encoder"], device, dtype)
                self._loaded[key] = encoder
                log.info("text encoder %s: loaded on %s, shared by the models that use it",
                         folder, device)
            tokenizer = _load_tokenizer(folder, classes["tokenizer"])
        return {"text_encoder": encoder, "tokenizer": tokenizer}


def _classes(model_folder: Path) -> dict[str, str]:
    """The transformers class of each shared part, as the pipeline's model_index.json says."""
    index = json.loads((model_folder / "model_index.json").read_text())
    return {part: index[part][1] for part in PARTS}


def _load_encoder(folder: Path, cls: str, device: str, dtype: Any) -> Any:
    import transformers

    encoder = getattr(transformers, cls).from_pretrained(
        folder / "text_encoder", local_files_only=True, dtype=dtype).to(device)
    return encoder.eval()


def _load_tokenizer(folder: Path, cls: str) -> Any:
    import transformers

    return getattr(transformers, cls).from_pretrained(folder / "tokenizer",
                                                      local_files_only=True)
