"""What makes a FLUX pipeline fast, on tiny pipelines on the CPU: fused projections and
the step cache give the images they should, warm-up covers every size the schema allows.

The fp8, compilation and attention-kernel parts need a CUDA GPU; on the CPU they must
leave the pipeline as it is, which these tests check too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from replicast.models import speed
from replicast.models.catalog import flux1
from replicast.models.fp8 import fast_pipeline
from replicast.models.speed import Tuning
from tests.support import tiny_flux

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

SIZE = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = tiny_flux.build("dev", tmp_path_factory.mktemp("dev"))
    loaded = diffusers.FluxPipeline.from_pretrained(folder, local_files_only=True,
                                                    dtype=torch.float32)
    loaded.set_progress_bar_config(disable=True)
    return loaded


def image(pipeline, seed: int = 7, steps: int = 6) -> np.ndarray:
    result = pipeline(prompt="a paper boat", num_inference_steps=steps, guidance_scale=3.5,
                      generator=torch.Generator().manual_seed(seed), output_type="np", **SIZE)
    return result.images[0]


def transformer_blocks_run(pipeline) -> int:
    """How many transformer blocks computed their attention during one call of
    ``pipeline`` (a block the cache skips returns its cached output instead)."""
    ran = []
    blocks = [*pipeline.transformer.transformer_blocks,
              *pipeline.transformer.single_transformer_blocks]
    hooks = [block.attn.register_forward_hook(lambda *_: ran.append(1)) for block in blocks]
    try:
        image(pipeline)
    finally:
        for hook in hooks:
            hook.remove()
    return len(ran)


def test_every_size_a_flux1_request_can_choose_is_warmed():
    sizes = speed.schema_sizes(flux1.SCHNELL)
    expected = {flux1.flux_size(ratio, megapixels)
                for ratio in flux1.ASPECT_RATIOS for megapixels in ("1", "0.25")}
    assert set(sizes) == expected and len(sizes) == len(flux1.ASPECT_RATIOS) * 2
    assert (1024, 1024) in sizes and (512, 512) in sizes


def test_flux2_sizes_follow_their_own_choices():
    klein = speed.schema_sizes("black-forest-labs/flux-2-klein-4b")
    assert klein and all(w % 16 == 0 and h % 16 == 0 for w, h in klein)
    assert len(set(klein)) == len(klein)


def test_warm_up_calls_each_size_and_batch_once():
    calls = []

    def fake(**call):
        calls.append((call["width"], call["height"], len(call["prompt"]),
                      call["num_inference_steps"]))

    seconds = speed.warm_up(fake, [(64, 64), (32, 96)], batches=(1, 2))
    assert calls == [(64, 64, 1, 1), (64, 64, 2, 1), (32, 96, 1, 1), (32, 96, 2, 1)]
    assert seconds >= 0


def test_fused_projections_give_the_same_image(pipeline):
    before = image(pipeline)
    fused = copy.deepcopy(pipeline.transformer)
    speed.fuse_qkv(fused)
    assert any(getattr(m, "fused_projections", False) for m in fused.modules())
    after = image(diffusers.FluxPipeline.from_pipe(pipeline, transformer=fused))
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_on_the_cpu_go_fast_is_nothing_without_the_step_cache(pipeline):
    fast, note = fast_pipeline(torch, pipeline, "cpu", Tuning(step_cache=0.0))
    assert fast is None and "CUDA" in note


def test_the_step_cache_skips_blocks_and_leaves_the_full_pipeline_alone(pipeline):
    before = image(pipeline)
    full_blocks = transformer_blocks_run(pipeline)
    fast, note = fast_pipeline(torch, pipeline, "cpu", Tuning(step_cache=10.0))
    assert fast is not None and "step cache only" in note
    assert fast.transformer is not pipeline.transformer
    fast.set_progress_bar_config(disable=True)
    cached_blocks = transformer_blocks_run(fast)
    # A threshold no change reaches: after the first step, only the first block runs.
    assert cached_blocks < full_blocks
    np.testing.assert_array_equal(image(pipeline), before)  # the full pipeline is untouched


def test_a_step_cache_no_step_can_use_changes_nothing(pipeline):
    fast, _ = fast_pipeline(torch, pipeline, "cpu", Tuning(step_cache=1e-12))
    assert fast is not None
    fast.set_progress_bar_config(disable=True)
    assert transformer_blocks_run(fast) == transformer_blocks_run(pipeline)
    # The same computation on a copy of the transformer: float32 sums may be ordered
    # differently (seen: 1.3e-6 apart), far below one step of an 8-bit pixel (3.9e-3).
    np.testing.assert_allclose(image(fast), image(pipeline), atol=1e-5)


def test_attention_and_compilation_are_for_cuda_only(pipeline):
    assert speed.attention(pipeline.transformer, "cpu") == "native"
