"""Random weights: the full-size configs are the published architectures, counted on the
``meta`` device (no memory), and the tiny ones build working pipelines on a CPU.

Published parameter counts, and the tolerance each is checked to:

- exact counts of the hub checkpoints (0.1 %): FLUX.1 [dev] transformer 11,901,408,320
  and [schnell] 11,891,178,560 (11.9 B on their model pages; schnell has no guidance
  embedder); T5-XXL encoder 4,762,310,656 (``text_encoder_2``, 4.76 B); CLIP ViT-L/14
  text model 123,060,480 (``text_encoder``, 123 M); FLUX.1 VAE 83,819,683 (83.8 M);
  FLUX.2 VAE 84,046,115 (the checkpoint's 250 float tensors, batch-norm statistics aside);
- counts published rounded (2 %): Qwen3-4B 4.02 B and Qwen3-8B 8.19 B (Qwen's model
  cards: "4.0B", "8.2B"); FLUX.2 [dev] transformer "32B"; Mistral Small 3.1 "24B";
- counts published only as a class (5 %): the FLUX.2 [klein] 4B transformer, "~4B" on its
  model cards (3.88 B), and the 9B one, "~9B" (9.08 B).
"""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.models import random_weights

PUBLISHED = [
    ("flux1-dev-transformer", 11_901_408_320, 0.001),
    ("flux1-schnell-transformer", 11_891_178_560, 0.001),
    ("t5-xxl", 4_762_310_656, 0.001),
    ("clip-l", 123_060_480, 0.001),
    ("flux1-vae", 83_819_683, 0.001),
    ("flux2-vae", 84_046_115, 0.001),
    ("qwen3-4b", 4_020_000_000, 0.02),
    ("qwen3-8b", 8_190_000_000, 0.02),
    ("flux2-dev-transformer", 32_000_000_000, 0.02),
    ("mistral-small-3.1", 24_000_000_000, 0.02),
    ("flux2-klein-4b-transformer", 4_000_000_000, 0.05),
    ("flux2-klein-9b-transformer", 9_000_000_000, 0.05),
]


@pytest.mark.parametrize(("name", "published", "tolerance"), PUBLISHED,
                         ids=[p[0] for p in PUBLISHED])
def test_the_full_configs_have_the_published_parameter_counts(name, published, tolerance):
    module = random_weights.empty("full", name)
    assert {p.device.type for p in module.parameters()} == {"meta"}
    assert random_weights.parameter_count(module) == pytest.approx(published, rel=tolerance)


def test_each_recipe_names_configs_that_exist_at_both_sizes():
    for recipe in random_weights.RECIPES.values():
        for config in recipe.modules.values():
            for size in random_weights.SIZES:
                cls, values = random_weights.spec(size, config)
                assert cls.startswith(("diffusers.", "transformers.")) and values


def test_a_tied_embedding_stays_one_parameter():
    encoder = random_weights.empty("full", "qwen3-4b")
    assert encoder.lm_head.weight is encoder.model.embed_tokens.weight


def test_a_tiny_pipeline_is_built_with_values_of_a_sensible_scale_and_runs():
    import torch

    pipeline = random_weights.build("black-forest-labs/flux-schnell", "tiny", "cpu",
                                    torch.float32)
    parameters = list(pipeline.transformer.parameters())
    assert all(p.device.type == "cpu" and not p.requires_grad for p in parameters)
    weight = pipeline.transformer.x_embedder.weight
    assert 0 < weight.abs().max() <= 1 / 64 ** 0.5  # 64 input channels
    images = pipeline(prompt="a cat", num_inference_steps=1, height=64, width=64,
                      generator=torch.Generator().manual_seed(0), output_type="np",
                      max_sequence_length=16).images
    assert images.shape == (1, 64, 64, 3)


def test_the_settings_name_models_that_can_run_on_random_weights():
    settings = Settings.from_env({"REPLICAST_RANDOM_WEIGHTS": "black-forest-labs/flux-dev, "
                                  "black-forest-labs/flux-2-klein-4b",
                                  "REPLICAST_RANDOM_WEIGHTS_SIZE": "TINY"})
    assert settings.random_weights == ("black-forest-labs/flux-dev",
                                       "black-forest-labs/flux-2-klein-4b")
    assert settings.random_weights_size == "tiny"
    with pytest.raises(ConfigError, match=r"REPLICAST_RANDOM_WEIGHTS: black-forest-labs/"
                                          r"flux-1\.1-pro cannot run on random weights"):
        Settings.from_env({"REPLICAST_RANDOM_WEIGHTS": "black-forest-labs/flux-1.1-pro"})
    with pytest.raises(ConfigError, match="REPLICAST_RANDOM_WEIGHTS_SIZE='huge'"):
        Settings.from_env({"REPLICAST_RANDOM_WEIGHTS_SIZE": "huge"})
