"""The FLUX.2 runner alone: what reaches the pipeline (sizes by the catalog's rule), reference
checks, and one text encoder shared by the klein models that use it (real tiny weights)."""

from __future__ import annotations

import asyncio
import base64
import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from replicast.errors import ModelError
from replicast.models import catalog, flux2
from replicast.models.catalog import flux2 as spec
from replicast.models.encoders import SharedEncoders
from replicast.models.validation import InputValidator
from replicast.models.weights import encoder_folder
from tests.support.context import RecordingContext


def inputs(model: str, **given):
    schema = catalog.spec(model).openapi_schema()
    values, _ = InputValidator(schema).validate({"prompt": "p", **given})
    return values


def png(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def stubbed(model: str, size: flux2.SizeRule = spec.size):
    """A runner whose pipeline call is recorded instead of run."""
    runner = flux2.Flux2Runner(model, Path("/nonexistent"), size=size, load_at_startup=False)
    runner._loaded = True
    calls = []

    def denoise(pipeline, call, seed, steps, context, prepare=None, image_format="png",
                screened=True):
        calls.append({**call, "seed": seed, "steps": steps})
        return [Image.new("RGB", (call["width"], call["height"]))]

    runner._denoise = denoise
    return runner, calls


async def test_the_call_carries_the_references_the_size_and_the_models_steps():
    seen = []

    def size(model, given, reference_sizes):
        seen.append((model, given["aspect_ratio"], reference_sizes))
        return 320, 160

    runner, calls = stubbed(spec.KLEIN_9B_BASE, size)
    context = RecordingContext()
    urls = await runner.predict(context, inputs(spec.KLEIN_9B_BASE, seed=7, guidance=2.5,
                                                images=[png(100, 80), png(64, 512)]))
    assert seen == [(spec.KLEIN_9B_BASE, "1:1", [(100, 80), (64, 512)])]
    [call] = calls
    assert [image.size for image in call.pop("image")] == [(100, 80), (64, 512)]
    assert call == {"prompt": "p", "width": 320, "height": 160, "num_inference_steps": 50,
                    "guidance_scale": 2.5, "max_sequence_length": 512, "output_type": "pil",
                    "seed": 7, "steps": 50}
    assert urls == ["https://files.test/out-0.jpg"]


async def test_flux_2_dev_answers_one_url_and_without_references_passes_none():
    runner, calls = stubbed(spec.DEV)
    url = await runner.predict(RecordingContext(), inputs(spec.DEV, seed=1))
    assert url == "https://files.test/out-0.webp"
    assert (calls[0]["image"], calls[0]["guidance_scale"], calls[0]["steps"]) == (None, 4.0, 50)


@pytest.mark.parametrize(("image", "error"), [
    (png(63, 500), "Image 2 of input_images is 63x500; each side must be at least 64 pixels"),
    (png(520, 64), "Image 2 of input_images is 520x64; its aspect ratio must be at most 8:1"),
])
async def test_a_reference_the_pipeline_would_refuse_fails_naming_the_input(image, error):
    runner, calls = stubbed(spec.DEV)
    with pytest.raises(ModelError, match=error):
        await runner.predict(RecordingContext(),
                             inputs(spec.DEV, input_images=[png(64, 512), image]))
    assert calls == []


@pytest.fixture(scope="module")
def klein_weights(tmp_path_factory):
    from tests.support import tiny_flux

    root = tmp_path_factory.mktemp("klein")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in (spec.KLEIN_4B, spec.KLEIN_4B_BASE, spec.KLEIN_9B):
            group, _ = tiny_flux.KLEIN[model]
            encoder = root / tiny_flux.SHARED_ENCODERS / group
            if not encoder.is_dir():
                tiny_flux.build_qwen3_encoder(encoder, tiny_flux.KLEIN_WIDTH[group])
            tiny_flux.build_klein(model, root / model, encoder)
    return root


async def test_the_klein_models_that_share_a_text_encoder_get_the_same_one(klein_weights):
    encoders = SharedEncoders()
    runners = {model: flux2.Flux2Runner(
        model, klein_weights / model, size=spec.size, encoders=encoders, device="cpu",
        encoder=encoder_folder(klein_weights, model))
        for model in (spec.KLEIN_4B, spec.KLEIN_4B_BASE, spec.KLEIN_9B)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await asyncio.gather(*(runner.setup() for runner in runners.values()))
    four, base, nine = (runner._pipeline for runner in runners.values())
    assert four.text_encoder is base.text_encoder
    assert four.tokenizer is not base.tokenizer  # a tokenizer is not for two threads
    assert four.transformer is not base.transformer
    assert nine.text_encoder is not four.text_encoder
    assert (four.config.is_distilled, base.config.is_distilled) == (True, False)
    assert len(encoders._loaded) == 2
