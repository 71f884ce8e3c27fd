"""Weights on disk: the hub table, a text encoder pulled once for two models, status."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from replicast.models import weights

KLEIN_4B = "black-forest-labs/flux-2-klein-4b"
KLEIN_4B_BASE = "black-forest-labs/flux-2-klein-4b-base"
KLEIN_9B = "black-forest-labs/flux-2-klein-9b"


def test_every_open_flux_2_model_has_its_hub_repository():
    assert {name: repo for name, repo in weights.HUB_REPOSITORIES.items()
            if "flux-2" in name} == {
        "black-forest-labs/flux-2-dev": "black-forest-labs/FLUX.2-dev",
        "black-forest-labs/flux-2-klein-4b": "black-forest-labs/FLUX.2-klein-4B",
        "black-forest-labs/flux-2-klein-9b": "black-forest-labs/FLUX.2-klein-9B",
        "black-forest-labs/flux-2-klein-4b-base": "black-forest-labs/FLUX.2-klein-base-4B",
        "black-forest-labs/flux-2-klein-9b-base": "black-forest-labs/FLUX.2-klein-base-9B",
    }


class FakeHub:
    """``snapshot_download`` over repositories held in memory: path -> bytes."""

    def __init__(self, repositories: dict[str, dict[str, bytes]]) -> None:
        self.repositories = repositories
        self.written: list[Path] = []

    def snapshot_download(self, repository, *, local_dir, allow_patterns, ignore_patterns,
                          token):
        from fnmatch import fnmatch

        for path, data in self.repositories[repository].items():
            if not any(fnmatch(path, p) for p in allow_patterns) or any(
                    fnmatch(path, p) for p in ignore_patterns or []):
                continue
            target = Path(local_dir) / path
            if target.exists() and target.read_bytes() == data:
                continue  # as the hub client does: a file it has is not fetched again
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.written.append(target)
        return str(local_dir)


def klein_repository(distilled: bool) -> dict[str, bytes]:
    return {
        "model_index.json": json.dumps({"_class_name": "Flux2KleinPipeline",
                                        "is_distilled": distilled}).encode(),
        "flux-2-klein.safetensors": b"the same weights in BFL's single-file layout",
        "transformer/config.json": b"{}",
        "transformer/diffusion_pytorch_model.safetensors": b"transformer %d" % distilled,
        "vae/config.json": b"{}",
        "text_encoder/config.json": b"{}",
        "text_encoder/model-00001-of-00002.safetensors": b"qwen3-4b part 1",
        "text_encoder/model-00002-of-00002.safetensors": b"qwen3-4b part 2",
        "text_encoder/model.safetensors.index.json": b"{}",
        "tokenizer/tokenizer.json": b"{}",
        "tokenizer/chat_template.jinja": b"{{ messages }}",
        "README.md": b"# FLUX.2 [klein]",
    }


def test_a_text_encoder_two_models_share_is_pulled_once(tmp_path, monkeypatch):
    import huggingface_hub

    hub = FakeHub({"black-forest-labs/FLUX.2-klein-4B": klein_repository(True),
                   "black-forest-labs/FLUX.2-klein-base-4B": klein_repository(False)})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    weights.pull(tmp_path, KLEIN_4B)
    weights.pull(tmp_path, KLEIN_4B_BASE)

    shared = tmp_path / "text-encoders" / "qwen3-4b"
    written = sorted(str(path.relative_to(tmp_path)) for path in hub.written)
    assert written == sorted([
        *(f"{model}/{part}" for model in (KLEIN_4B, KLEIN_4B_BASE) for part in [
            "model_index.json", "transformer/config.json",
            "transformer/diffusion_pytorch_model.safetensors", "vae/config.json"]),
        *(f"text-encoders/qwen3-4b/{part}" for part in [
            "text_encoder/config.json", "text_encoder/model-00001-of-00002.safetensors",
            "text_encoder/model-00002-of-00002.safetensors",
            "text_encoder/model.safetensors.index.json", "tokenizer/tokenizer.json",
            "tokenizer/chat_template.jinja"]),
    ])
    for model in (KLEIN_4B, KLEIN_4B_BASE):
        found = weights.status(tmp_path, model)
        assert (found.present, found.encoder, found.missing) == (True, shared, "")
        assert found.runnable == weights.flux_installed()


def test_a_model_folder_with_its_own_text_encoder_uses_it(tmp_path):
    folder = tmp_path / KLEIN_9B
    (folder / "text_encoder").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    found = weights.status(tmp_path, KLEIN_9B)
    assert (found.encoder, found.missing) == (None, "")


def test_a_shared_text_encoder_that_is_missing_makes_a_stand_in(tmp_path):
    (tmp_path / KLEIN_4B).mkdir(parents=True)
    (tmp_path / KLEIN_4B / "model_index.json").write_text("{}")
    found = weights.status(tmp_path, KLEIN_4B)
    assert not found.runnable
    assert found.reason == (
        f"stand-in: weights are in {tmp_path / KLEIN_4B} but its text encoder is in neither "
        f"{tmp_path / KLEIN_4B / 'text_encoder'} nor {tmp_path / 'text-encoders/qwen3-4b'}")


def test_flux_2_devs_processor_needs_torchvision(tmp_path, monkeypatch):
    folder = tmp_path / "black-forest-labs" / "flux-2-dev"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "Flux2Pipeline", "tokenizer": ["transformers", "PixtralProcessor"],
        "text_encoder": ["transformers", "Mistral3ForConditionalGeneration"]}))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "torchvision" else find_spec(name))
    found = weights.status(tmp_path, "black-forest-labs/flux-2-dev")
    assert not found.runnable
    assert found.reason.endswith("but its tokenizer (PixtralProcessor) needs torchvision: "
                                 "install the torchvision build that matches your torch")


@pytest.mark.parametrize("model", ["black-forest-labs/flux-2-pro", "someone/else"])
def test_only_known_models_can_be_pulled(tmp_path, model):
    from replicast.errors import ConfigError

    with pytest.raises(ConfigError, match="has no weights to pull"):
        weights.pull(tmp_path, model)
