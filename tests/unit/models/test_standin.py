import base64
import io

import pytest
from PIL import Image

from replicast.errors import ModelError
from replicast.models import flux_spec
from replicast.models.standin import FluxStandIn
from tests.support.context import RecordingContext


def validated(model, **given):
    from replicast.models.validation import InputValidator

    inputs, _ = InputValidator(flux_spec.schemas()[model]).validate(given)
    return inputs


async def run(model, **given):
    context = RecordingContext()
    output = await FluxStandIn(model).predict(context, validated(model, **given))
    return output, context


def image_of(data):
    return Image.open(io.BytesIO(data))


def png_data_uri(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


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
