"""Previews (OpenAI's partial images): the latents between two steps, decoded as the
pipeline decodes its result, sent at steps spread over the run; the stand-ins send theirs
at the same steps. Real tiny pipelines."""

from __future__ import annotations

import io
import warnings

import pytest
from PIL import Image

from replicast.models import catalog, flux, flux2, flux_spec
from replicast.models.catalog import flux2 as flux2_spec
from replicast.models.progress import preview_steps
from replicast.models.standin import FluxStandIn
from replicast.models.validation import InputValidator
from tests.support import tiny_flux
from tests.support.context import RecordingContext


def values(model: str, **given):
    checked, _ = InputValidator(catalog.spec(model).openapi_schema()).validate(
        {"prompt": "a red boat", "seed": 3, **given})
    return checked


@pytest.mark.parametrize(("steps", "previews", "points"), [
    (4, 3, [1, 2, 3]), (4, 1, [2]), (28, 2, [9, 19]), (4, 0, []), (1, 2, []), (2, 3, [1]),
])
def test_previews_are_spread_over_the_steps_before_the_last(steps, previews, points):
    assert preview_steps(steps, previews) == points


def check(context: RecordingContext, count: int, size: tuple[int, int], image_format: str):
    assert [index for index, _, _ in context.preview_images] == list(range(count))
    for _, data, sent_as in context.preview_images:
        assert sent_as == image_format
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == size
            assert image.format == {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[image_format]


@pytest.fixture(scope="module")
def schnell(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny_flux.build("schnell", tmp_path_factory.mktemp("schnell"))


async def test_flux1_sends_the_previews_asked_for_between_its_steps(schnell):
    runner = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu")
    context = RecordingContext()
    context.previews = 2
    await runner.setup()
    await runner.predict(context, values(flux_spec.SCHNELL, megapixels="0.25",
                                         num_inference_steps=4, output_format="png"))
    check(context, 2, (512, 512), "png")
    final = Image.open(io.BytesIO(context.saved["out-0.png"]))
    first = Image.open(io.BytesIO(context.preview_images[0][1]))
    assert first.tobytes() != final.tobytes()  # the image as it stood, not the result
    unasked = RecordingContext()
    await runner.predict(unasked, values(flux_spec.SCHNELL, megapixels="0.25",
                                         num_inference_steps=4, output_format="png"))
    assert unasked.preview_images == []


async def test_flux2_decodes_its_packed_latents(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = flux2_spec.KLEIN_4B
        group, _ = tiny_flux.KLEIN[model]
        encoder = tiny_flux.build_qwen3_encoder(tmp_path / "encoder",
                                                tiny_flux.KLEIN_WIDTH[group])
        folder = tiny_flux.build_klein(model, tmp_path / "klein", encoder)
    runner = flux2.Flux2Runner(model, folder, size=flux2_spec.size, encoder=encoder,
                               device="cpu")
    context = RecordingContext()
    context.previews = 3
    await runner.setup()
    await runner.predict(context, values(model, aspect_ratio="16:9", output_megapixels="0.25",
                                         output_format="jpg"))
    [(width, height)] = {Image.open(io.BytesIO(data)).size for data in context.saved.values()}
    check(context, 3, (width, height), "jpg")


async def test_a_stand_in_sends_its_previews_at_the_same_steps():
    context = RecordingContext()
    context.previews = 3
    urls = await FluxStandIn(flux_spec.DEV).predict(
        context, values(flux_spec.DEV, num_inference_steps=28, output_format="webp",
                        megapixels="0.25"))
    check(context, 3, (512, 512), "webp")
    lines = context.log_text.splitlines()
    progress = [line for line in lines if "/28" in line]
    assert len(progress) == 29
    sharpness = [Image.open(io.BytesIO(data)).convert("L").getextrema()
                 for _, data, _ in context.preview_images]
    assert sharpness[0] != sharpness[-1]  # less blurred as it goes
    assert len(urls) == 1
