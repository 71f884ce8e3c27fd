import base64
import io

import pytest
from PIL import Image

from replicast.errors import ModelError
from replicast.models import catalog, flux_spec
from replicast.models.catalog import flux2, kontext, pro
from replicast.models.standin import FluxStandIn
from replicast.models.validation import InputValidator
from tests.support.context import RecordingContext

B = "black-forest-labs/"


def validated(model, **given):
    inputs, _ = InputValidator(catalog.schemas()[model]).validate(given)
    return inputs


async def run(model, **given):
    context = RecordingContext()
    output = await FluxStandIn(model).predict(context, validated(model, **given))
    return output, context


def image_of(data):
    return Image.open(io.BytesIO(data))


def png_data_uri(width, height, colour=(10, 200, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return data_uri(buffer.getvalue())


def data_uri(data, kind="image/png"):
    return f"data:{kind};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize("fmt,kind", [("webp", "WEBP"), ("jpg", "JPEG"), ("png", "PNG")])
async def test_schnell_outputs_have_the_exact_size_format_and_count(fmt, kind):
    output, context = await run(flux_spec.SCHNELL, prompt="a boat", aspect_ratio="16:9",
                                num_outputs=2, output_format=fmt, megapixels="0.25", seed=1)
    assert output == [f"https://files.test/out-0.{fmt}", f"https://files.test/out-1.{fmt}"]
    for name in (f"out-0.{fmt}", f"out-1.{fmt}"):
        image = image_of(context.saved[name])
        assert (image.format, image.size) == (kind, (672, 384))
    assert context.metrics == {"image_count": 2}
    assert "stand-in" in context.log_text and "Using seed: 1\n" in context.log_text
    assert " 4/4" in context.log_text


async def test_same_input_and_seed_give_the_same_bytes():
    first, a = await run(flux_spec.SCHNELL, prompt="same", seed=42)
    second, b = await run(flux_spec.SCHNELL, prompt="same", seed=42)
    _, c = await run(flux_spec.SCHNELL, prompt="same", seed=43)
    assert first == second
    assert a.saved == b.saved
    assert a.saved["out-0.webp"] != c.saved["out-0.webp"]


async def test_each_output_of_a_batch_differs():
    _, context = await run(flux_spec.SCHNELL, prompt="p", seed=5, num_outputs=3)
    assert len(set(context.saved.values())) == 3


async def test_quality_changes_the_encoding():
    _, low = await run(flux_spec.SCHNELL, prompt="p", seed=5, output_quality=5,
                       megapixels="0.25")
    _, high = await run(flux_spec.SCHNELL, prompt="p", seed=5, output_quality=100,
                        megapixels="0.25")
    assert len(low.saved["out-0.webp"]) < len(high.saved["out-0.webp"])


async def test_a_seed_is_drawn_and_logged_when_none_is_given():
    _, context = await run(flux_spec.SCHNELL, prompt="p", megapixels="0.25")
    seed_lines = [line for line in context.log_text.splitlines() if line.startswith("Using seed:")]
    assert len(seed_lines) == 1
    assert 0 <= int(seed_lines[0].split(": ")[1]) < 65536


async def test_dev_img2img_follows_the_input_image_size():
    output, context = await run(flux_spec.DEV, prompt="p", image=png_data_uri(300, 200),
                                seed=3, output_format="png")
    assert image_of(context.saved["out-0.png"]).size == (304, 192)  # 12.5 blocks round to 12
    assert "Input image size: 300x200" in context.log_text
    assert len(output) == 1


async def test_kontext_returns_one_url_and_matches_the_input_image():
    output, context = await run(flux_spec.KONTEXT_PRO, prompt="p",
                                input_image=png_data_uri(600, 800), seed=9)
    assert output == "https://files.test/out-0.png"
    assert image_of(context.saved["out-0.png"]).size == (880, 1184)


async def test_kontext_aspect_ratio_without_an_image():
    _, context = await run(flux_spec.KONTEXT_PRO, prompt="p", aspect_ratio="21:9",
                           output_format="jpg")
    assert image_of(context.saved["out-0.jpg"]).size == (1568, 672)


async def test_a_corrupt_input_image_fails_clearly():
    bad = "data:image/png;base64," + base64.b64encode(b"not an image at all").decode()
    with pytest.raises(ModelError, match="could not be read as an image"):
        await run(flux_spec.DEV, prompt="p", image=bad)


async def test_a_canceled_run_stops_before_encoding():
    context = RecordingContext()
    context.cancel_event.set()
    import asyncio

    with pytest.raises(asyncio.CancelledError):
        await FluxStandIn(flux_spec.SCHNELL).predict(context, validated(flux_spec.SCHNELL,
                                                                         prompt="p"))
    assert context.saved == {}


# One input per catalog model, with its reference input used where it has one.
SMALL = {
    B + "flux-schnell": {"megapixels": "0.25", "num_outputs": 2},
    B + "flux-dev": {"megapixels": "0.25", "image": png_data_uri(320, 240)},
    B + "flux-dev-lora": {"megapixels": "0.25", "num_outputs": 3},
    B + "flux-schnell-lora": {"aspect_ratio": "16:9", "megapixels": "0.25"},
    B + "flux-kontext-pro": {"input_image": png_data_uri(600, 800)},
    B + "flux-kontext-max": {"aspect_ratio": "21:9", "output_format": "jpg"},
    B + "flux-pro": {"aspect_ratio": "custom", "width": 512, "height": 320},
    B + "flux-1.1-pro": {"image_prompt": png_data_uri(64, 64), "aspect_ratio": "custom",
                         "width": 256, "height": 384, "output_format": "png"},
    B + "flux-1.1-pro-ultra": {"aspect_ratio": "9:21", "output_format": "png"},
    B + "flux-2-pro": {"resolution": "0.5 MP", "aspect_ratio": "3:2"},
    B + "flux-2-max": {"input_images": [png_data_uri(300, 200), png_data_uri(90, 90)],
                       "aspect_ratio": "match_input_image", "resolution": "0.5 MP"},
    B + "flux-2-flex": {"aspect_ratio": "custom", "width": 300, "height": 300, "steps": 3},
    B + "flux-2-dev": {"input_images": [png_data_uri(256, 512)],
                       "aspect_ratio": "match_input_image", "output_format": "png"},
    B + "flux-2-klein-4b": {"output_megapixels": "0.25", "images": [png_data_uri(64, 64)]},
    B + "flux-2-klein-9b": {"megapixels": "0.25", "aspect_ratio": "9:16"},
    B + "flux-2-klein-4b-base": {"output_megapixels": "0.25", "output_format": "webp"},
    B + "flux-2-klein-9b-base": {"output_megapixels": "0.5", "aspect_ratio": "4:3"},
}
KINDS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}


def test_every_catalog_model_has_a_small_input_here():
    assert set(SMALL) == set(catalog.names())


@pytest.mark.parametrize("model", sorted(SMALL))
async def test_every_model_answers_in_its_own_shape(model):
    inputs = validated(model, prompt="a lighthouse at dusk", seed=7, **SMALL[model])
    output, context = await run(model, prompt="a lighthouse at dusk", seed=7, **SMALL[model])
    spec = catalog.spec(model)
    count = inputs.get("num_outputs", 1)
    fmt = inputs["output_format"]
    urls = [f"https://files.test/out-{i}.{fmt}" for i in range(count)]
    assert output == (urls if spec.many_outputs else urls[0])
    references = [image_of(await context.fetch_file(url)).size
                  for url in spec.reference_urls(inputs)]
    expected = catalog.size(model, inputs, references)
    for index in range(count):
        image = image_of(context.saved[f"out-{index}.{fmt}"])
        assert (image.format, image.size) == (KINDS[fmt], expected)
    assert f"Replicast stand-in for {model}" in context.log_text
    _, repeat = await run(model, prompt="a lighthouse at dusk", seed=7, **SMALL[model])
    assert repeat.saved == context.saved


async def test_the_reference_images_show_in_the_picture():
    _, a = await run(flux2.PRO, prompt="p", seed=1, resolution="0.5 MP")
    _, b = await run(flux2.PRO, prompt="p", seed=1, resolution="0.5 MP",
                     input_images=[png_data_uri(100, 100, (250, 0, 0))])
    _, c = await run(flux2.PRO, prompt="p", seed=1, resolution="0.5 MP",
                     input_images=[png_data_uri(100, 100, (0, 0, 250))])
    pictures = [image_of(x.saved["out-0.webp"]).convert("RGB") for x in (a, b, c)]
    middle = (pictures[0].width // 2, pictures[0].height * 3 // 4)
    reds = [p.getpixel(middle)[0] - p.getpixel(middle)[2] for p in pictures]
    assert reds[1] > 100 and reds[2] < -100  # mostly the reference's colour
    assert "Input image 1 of 1 size: 100x100" in b.log_text


async def test_several_references_are_laid_side_by_side():
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    _, context = await run(flux2.FLEX, prompt="p", seed=2, aspect_ratio="custom", width=768,
                           height=512, input_images=[png_data_uri(50, 50, c) for c in colours])
    picture = image_of(context.saved["out-0.webp"]).convert("RGB")
    for index, colour in enumerate(colours):
        pixel = picture.getpixel((128 + 256 * index, 400))
        assert max(range(3), key=lambda channel: pixel[channel]) == colour.index(250)


async def test_a_non_image_reference_fails_naming_the_field():
    text = data_uri(b"just some words", "image/png")
    with pytest.raises(ModelError, match=r"input_images\[1\] could not be read as an image"):
        await run(flux2.MAX, prompt="p", input_images=[png_data_uri(64, 64), text])
    with pytest.raises(ModelError, match="given as image_prompt could not be read"):
        await run(pro.ULTRA, prompt="p", image_prompt=text)


async def test_kontext_max_answers_like_kontext_pro():
    output, context = await run(kontext.KONTEXT_MAX, prompt="p",
                                input_image=png_data_uri(800, 600), seed=9)
    assert output == "https://files.test/out-0.png"
    assert image_of(context.saved["out-0.png"]).size == (1184, 880)
