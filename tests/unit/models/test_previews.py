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


def _same_picture(a: Image.Image, b: Image.Image) -> bool:
    import numpy

    return bool(numpy.abs(numpy.asarray(a, numpy.int16) - numpy.asarray(b, numpy.int16)).max()
                <= 2)


async def test_flux1_decodes_latents_as_the_pipeline_decodes_its_result(schnell):
    import torch

    runner = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu")
    await runner.setup()
    pipe = runner._pipeline
    call = {"prompt": "a boat", "width": 256, "height": 128, "num_inference_steps": 2,
            "guidance_scale": 0.0}
    latents = pipe(**call, output_type="latent",
                   generator=torch.Generator().manual_seed(5)).images
    image = pipe(**call, output_type="pil", generator=torch.Generator().manual_seed(5)).images[0]
    with torch.no_grad():
        decoded = runner._decode_preview(pipe, latents, call)
    assert _same_picture(decoded, image)


async def test_flux2_decodes_latents_as_the_pipeline_decodes_its_result(tmp_path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tiny_flux.build_flux2_dev(tmp_path / "dev")
    runner = flux2.Flux2Runner(flux2_spec.DEV, folder, size=flux2_spec.size, device="cpu")
    await runner.setup()
    pipe = runner._pipeline
    call = {"prompt": "a boat", "width": 256, "height": 128, "num_inference_steps": 2}
    latents = pipe(**call, output_type="latent",
                   generator=torch.Generator().manual_seed(5)).images
    image = pipe(**call, output_type="pil", generator=torch.Generator().manual_seed(5)).images[0]
    with torch.no_grad():
        decoded = runner._decode_preview(pipe, latents, call)
    assert _same_picture(decoded, image)


class _FlagsAll:
    def flags(self, images):
        return [True for _ in images]


async def test_previews_pass_the_safety_checker_and_a_failed_one_is_skipped(schnell):
    runner = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu")
    await runner.setup()
    runner.safety = _FlagsAll()
    context = RecordingContext()
    context.previews = 2
    given = values(flux_spec.SCHNELL, megapixels="0.25", num_inference_steps=4,
                   disable_safety_checker=False)
    with pytest.raises(Exception, match="NSFW"):  # the result too, as always
        await runner.predict(context, given)
    assert context.preview_images == []
    assert context.log_text.count("was withheld: NSFW content detected") == 2
    runner.safety = None

    def broken(pipeline, latents, call):
        raise RuntimeError("no room")

    runner._decode_preview = broken
    context = RecordingContext()
    context.previews = 1
    urls = await runner.predict(context, given)
    assert len(urls) == 1 and context.preview_images == []
    assert "Preview 1 could not be made; the run goes on" in context.log_text
