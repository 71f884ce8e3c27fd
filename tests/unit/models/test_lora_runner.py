"""The LoRA models on their base models' runners: one loaded pipeline for both, the LoRAs
of each call set on the device thread just before it, go_fast in bf16 with a LoRA."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image

from replicast.config import Settings
from replicast.models import catalog, flux, flux_spec, registry
from replicast.models.catalog import lora
from replicast.models.lora.apply import Wanted
from replicast.models.lora_runner import LoraRunner
from replicast.models.validation import InputValidator
from tests.support.context import RecordingContext


def dev_inputs(model: str = flux_spec.DEV, **given):
    values, _ = InputValidator(catalog.spec(model).openapi_schema()).validate(
        {"prompt": "p", "megapixels": "0.25", "num_inference_steps": 2, "seed": 1, **given})
    return values


class RecordingAdapters:
    """Stands for ``Adapters``: records what each call switched on, and on which thread."""

    def __init__(self) -> None:
        self.used: list[tuple[list[str], str]] = []

    def use(self, loras):
        self.used.append(([w.name for w in loras], threading.current_thread().name))
        return []


def loaded_dev_runner(monkeypatch):
    """A flux-dev runner whose pipelines are stand-ins and whose calls are recorded."""
    runner = flux.FluxRunner(flux_spec.DEV, Path("/nonexistent"), load_at_startup=False)
    runner._loaded = True
    runner._pipeline, runner._fast = "bf16", "fp8"
    runner._adapters = RecordingAdapters()  # type: ignore[assignment]
    calls = []
    real = runner._denoise

    def pipeline_of(name):
        def call(generator, callback_on_step_end, **arguments):
            calls.append(name)
            return type("Result", (), {"images": [Image.new(
                "RGB", (arguments["width"], arguments["height"]))]})()
        return call

    def denoise(pipeline, call, seed, steps, context, prepare=None, image_format="png",
                screened=True):
        return real(pipeline_of(pipeline), call, seed, steps, context, prepare)

    monkeypatch.setattr(runner, "_denoise", denoise)
    return runner, calls


async def test_each_call_sets_its_own_loras_on_the_device_thread(monkeypatch):
    runner, calls = loaded_dev_runner(monkeypatch)
    wanted = [Wanted("lora_weights", "lora_abc", Path("/x.safetensors"), 0.8)]
    await runner.run(RecordingContext(), dev_inputs(go_fast=False), wanted)
    await runner.predict(RecordingContext(), dev_inputs(go_fast=False))
    adapters = runner._adapters
    assert [names for names, _ in adapters.used] == [["lora_abc"], []]
    assert all(thread.startswith("diffusers-") for _, thread in adapters.used)
    assert calls == ["bf16", "bf16"]


async def test_go_fast_with_a_lora_runs_the_full_precision_pipeline(monkeypatch):
    runner, calls = loaded_dev_runner(monkeypatch)
    wanted = [Wanted("lora_weights", "lora_abc", Path("/x.safetensors"), 1.0)]
    with_lora = RecordingContext()
    await runner.run(with_lora, dev_inputs(go_fast=True), wanted)
    without = RecordingContext()
    await runner.run(without, dev_inputs(go_fast=True), [])
    assert calls == ["bf16", "fp8"]
    assert "go_fast: LoRAs run in bf16 here, at the scales given\n" in with_lora.logs
    assert "running quantized prediction\n" in without.logs


def test_a_lora_model_runs_on_its_base_models_runner(monkeypatch, tmp_path):
    settings = Settings(data_dir=tmp_path, weights_dir=tmp_path, load_models="first-use")
    real = registry.status

    def present(weights_dir, model):
        found = real(weights_dir, model)
        return type(found)(found.model, found.folder, True, True)

    monkeypatch.setattr(registry, "status", present)
    models = {m.full_name: m for m in registry.builtin_models(settings)}
    dev_lora = models[lora.DEV_LORA].runner
    schnell_lora = models[lora.SCHNELL_LORA].runner
    assert isinstance(dev_lora, LoraRunner) and isinstance(schnell_lora, LoraRunner)
    assert dev_lora.base is models[flux_spec.DEV].runner
    assert schnell_lora.base is models[flux_spec.SCHNELL].runner
    assert dev_lora.library is schnell_lora.library
    assert dev_lora.base.folder == tmp_path / flux_spec.DEV
    assert models[lora.DEV_LORA].weights is not None
    assert models[lora.DEV_LORA].weights.model == flux_spec.DEV
    assert models[lora.DEV_LORA].create_check is not None
    assert models[flux_spec.DEV].create_check is None


def test_kontext_takes_no_loras():
    kontext = flux.FluxRunner(flux_spec.KONTEXT_PRO, Path("/nonexistent"), load_at_startup=False)
    with pytest.raises(ValueError, match="takes no LoRAs"):
        LoraRunner(lora.DEV_LORA, kontext, library=None)  # type: ignore[arg-type]
