"""LoRAs in a loaded pipeline: loaded once, switched per prediction, a bounded few kept.

The base weights are never reloaded: diffusers (through PEFT) adds each LoRA beside
them as a named adapter (the LoRA's digest names it), and ``set_adapters`` picks the
ones a prediction uses, at its scales; a prediction without a LoRA runs with them all
switched off, which gives the base model's images exactly. At most ``keep`` LoRAs stay
loaded; the least recently used is deleted to make room. Everything here runs on the
pipeline's device thread, one prediction at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replicast.models.loading import LOADING

log = logging.getLogger(__name__)

KEEP = 4
"""LoRAs kept loaded in one pipeline."""


class LoadFailed(Exception):
    """diffusers could not load a LoRA; ``field`` is the input that named it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Wanted:
    """A LoRA one prediction uses."""

    field: str
    """The input that named it (``lora_weights``, ``extra_lora``)."""
    name: str
    """Its adapter name."""
    path: Path
    scale: float


def adapter_name(digest: str) -> str:
    """The adapter name of the LoRA with this content digest."""
    return f"lora_{digest[:32]}"


class Adapters:
    """The LoRAs loaded into one pipeline (whose modules other pipelines may share)."""

    def __init__(self, pipeline: Any, keep: int = KEEP) -> None:
        self.pipeline = pipeline
        self.keep = keep
        self._loaded: list[str] = []  # least recently used first

    @property
    def loaded(self) -> tuple[str, ...]:
        """The adapters loaded now, least recently used first."""
        return tuple(self._loaded)

    def use(self, wanted: Sequence[Wanted]) -> list[str]:
        """Make the pipeline run with exactly ``wanted`` (none: the base model); the
        names of those loaded now (not loaded before). ``LoadFailed`` if one cannot be."""
        names = [w.name for w in wanted]
        fresh = []
        for w in wanted:
            if w.name in self._loaded:
                self._loaded.remove(w.name)
            else:
                self._make_room(keeping=names)
                self._load(w)
                fresh.append(w.name)
            self._loaded.append(w.name)
        if wanted:
            self.pipeline.enable_lora()
            self.pipeline.set_adapters(names, adapter_weights=[w.scale for w in wanted])
        elif self._loaded or self._any_present():  # a failed load may have left one
            self.pipeline.disable_lora()
        return fresh

    def _make_room(self, keeping: list[str]) -> None:
        for name in list(self._loaded):
            if len(self._loaded) < self.keep:
                return
            if name not in keeping:
                self.pipeline.delete_adapters([name])
                self._loaded.remove(name)
                log.info("unloaded LoRA %s (the least recently used)", name)

    def _load(self, wanted: Wanted) -> None:
        try:
            with LOADING:  # PEFT builds the adapter's layers
                self.pipeline.load_lora_weights(str(wanted.path), adapter_name=wanted.name)
        except Exception as exc:  # diffusers raises many kinds for a file it cannot take
            self._discard(wanted.name)
            raise LoadFailed(wanted.field, str(exc) or type(exc).__name__) from exc
        if not self._present(wanted.name):
            raise LoadFailed(wanted.field, "none of its layers matched the model's")

    def _present(self, name: str) -> bool:
        adapters = self.pipeline.get_list_adapters()
        return any(name in names for names in adapters.values())

    def _any_present(self) -> bool:
        return any(self.pipeline.get_list_adapters().values())

    def _discard(self, name: str) -> None:
        """Remove what a failed load may have left."""
        if self._present(name):
            try:
                self.pipeline.delete_adapters([name])
            except Exception:  # the load failed already; say that, not this
                log.exception("could not remove the LoRA %s that failed to load", name)
