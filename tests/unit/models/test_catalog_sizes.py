"""Every size rule of the catalog, as the pure function ``size(model, inputs, references)``."""

import pytest

from replicast.errors import InvalidInput
from replicast.models import catalog
from replicast.models.catalog import flux1, flux2, kontext, lora, pro
from replicast.models.validation import InputValidator

B = "black-forest-labs/"


def size(model, references=(), **inputs):
    """The size for ``inputs`` with the model's defaults filled in, as a run sees them."""
    validator = InputValidator(catalog.spec(model).openapi_schema())
    filled, _ = validator.validate({"prompt": "p", **inputs})
    return catalog.size(model, filled, list(references))


# Replicate's published table (reference: replicate-api.md, section 9.3).
@pytest.mark.parametrize("ratio,one,quarter", [
    ("1:1", (1024, 1024), (512, 512)), ("16:9", (1344, 768), (672, 384)),
    ("21:9", (1536, 640), (768, 320)), ("3:2", (1216, 832), (608, 416)),
    ("2:3", (832, 1216), (416, 608)), ("4:5", (896, 1088), (448, 544)),
    ("5:4", (1088, 896), (544, 448)), ("3:4", (896, 1152), (448, 576)),
    ("4:3", (1152, 896), (576, 448)), ("9:16", (768, 1344), (384, 672)),
    ("9:21", (640, 1536), (320, 768)),
])
@pytest.mark.parametrize("model", [flux1.SCHNELL, flux1.DEV, lora.DEV_LORA, lora.SCHNELL_LORA])
def test_flux1_sizes(model, ratio, one, quarter):
    assert size(model, aspect_ratio=ratio) == one
    assert size(model, aspect_ratio=ratio, megapixels="0.25") == quarter
    assert all(side % 16 == 0 for side in one + quarter)


@pytest.mark.parametrize("given,expected", [
    ((1024, 768), (1024, 768)),
    ((1000, 1000), (992, 992)),     # 62.5 blocks round to even, as cog-flux does
    ((3000, 2000), (1440, 960)),    # fitted into 1440
    ((2000, 3001), (960, 1440)),
    ((100, 30), (96, 32)),
    ((5, 5), (16, 16)),             # never below one block
])
def test_img2img_sizes(given, expected):
    assert flux1.img2img_size(*given) == expected


@pytest.mark.parametrize("model", [flux1.DEV, lora.DEV_LORA])
def test_dev_image_to_image_follows_the_image_not_the_aspect_ratio(model):
    assert size(model, [(300, 200)], aspect_ratio="9:16", megapixels="0.25") == (304, 192)


@pytest.mark.parametrize("ratio,expected", [
    ("1:1", (1024, 1024)), ("16:9", (1328, 800)), ("9:21", (672, 1568)),
    ("2:1", (1456, 720)), ("1:2", (720, 1456)),
])
@pytest.mark.parametrize("model", [kontext.KONTEXT_PRO, kontext.KONTEXT_MAX])
def test_kontext_sizes_by_ratio(model, ratio, expected):
    assert size(model, aspect_ratio=ratio) == expected
    assert size(model, [(300, 2000)], aspect_ratio=ratio) == expected  # the ratio wins


@pytest.mark.parametrize("image,expected", [
    ((800, 600), (1184, 880)), ((600, 800), (880, 1184)), ((500, 500), (1024, 1024)),
    ((4000, 1000), (1568, 672)),
])
def test_kontext_matches_the_input_image(image, expected):
    assert size(kontext.KONTEXT_MAX, [image]) == expected  # match_input_image by default


def test_kontext_without_an_image_is_square():
    assert size(kontext.KONTEXT_PRO) == (1024, 1024)


def test_every_kontext_ratio_choice_has_a_size():
    for choice in kontext.KONTEXT_RATIO_CHOICES:
        width, height = kontext.kontext_size(choice, (640, 480))
        assert width % 16 == 0 and height % 16 == 0


@pytest.mark.parametrize("model", [pro.PRO, pro.PRO_11])
@pytest.mark.parametrize("ratio,expected", [
    ("1:1", (1024, 1024)), ("16:9", (1376, 768)), ("9:16", (768, 1376)),
    ("3:2", (1248, 832)), ("4:5", (928, 1152)),
])
def test_flux_pro_presets_are_one_megapixel_in_32s(model, ratio, expected):
    assert size(model, aspect_ratio=ratio) == expected
    assert size(model, [(100, 900)], aspect_ratio=ratio) == expected  # a Redux prompt only


@pytest.mark.parametrize("model", [pro.PRO, pro.PRO_11])
def test_flux_pro_custom_sides_round_to_32(model):
    assert size(model, aspect_ratio="custom", width=1000, height=257) == (992, 256)
    assert size(model, aspect_ratio="custom", width=1010, height=1440) == (1024, 1440)


def test_ultra_presets_are_four_megapixels():
    assert size(pro.ULTRA) == (2048, 2048)
    assert size(pro.ULTRA, aspect_ratio="16:9") == (2720, 1536)
    assert size(pro.ULTRA, aspect_ratio="9:21") == (1344, 3136)


@pytest.mark.parametrize("model", [flux2.PRO, flux2.MAX, flux2.FLEX])
@pytest.mark.parametrize("inputs,references,expected", [
    ({}, [], (1024, 1024)),
    ({"aspect_ratio": "16:9"}, [], (1360, 768)),
    ({"resolution": "0.5 MP"}, [], (720, 720)),
    ({"resolution": "2 MP", "aspect_ratio": "3:2"}, [], (1776, 1184)),
    ({"resolution": "4 MP"}, [], (2048, 2048)),
    # 4 MP at 16:9 would be 2731 wide: both sides shrink to keep within 2048.
    ({"resolution": "4 MP", "aspect_ratio": "16:9"}, [], (2048, 1152)),
    ({"aspect_ratio": "match_input_image"}, [(800, 600), (10, 900)], (1184, 880)),
    ({"aspect_ratio": "match_input_image"}, [], (1024, 1024)),
    # The input's own pixels, clamped to 0.5..4 MP.
    ({"aspect_ratio": "match_input_image", "resolution": "match_input_image"},
     [(1200, 900)], (1200, 896)),
    ({"aspect_ratio": "match_input_image", "resolution": "match_input_image"},
     [(300, 300)], (720, 720)),
    ({"aspect_ratio": "1:1", "resolution": "match_input_image"}, [(5000, 5000)], (2048, 2048)),
    ({"aspect_ratio": "custom", "width": 1000, "height": 2047}, [], (1008, 2048)),
    ({"aspect_ratio": "custom", "width": 256, "height": 300}, [(64, 64)], (256, 304)),
])
def test_flux2_resolution_models(model, inputs, references, expected):
    assert size(model, references, **inputs) == expected
    assert all(side % 16 == 0 for side in expected)


def test_flux2_dev_presets_and_custom_sizes():
    assert size(flux2.DEV) == (1024, 1024)
    assert size(flux2.DEV, aspect_ratio="16:9") == (1360, 768)
    assert size(flux2.DEV, [(600, 800)], aspect_ratio="match_input_image") == (880, 1184)
    assert size(flux2.DEV, aspect_ratio="custom", width=1000, height=1440) == (992, 1440)


@pytest.mark.parametrize("model,key", [
    (flux2.KLEIN_4B, "output_megapixels"), (flux2.KLEIN_4B_BASE, "output_megapixels"),
    (flux2.KLEIN_9B, "megapixels"), (flux2.KLEIN_9B_BASE, "output_megapixels"),
])
def test_klein_sizes(model, key):
    assert size(model) == (1024, 1024)
    assert size(model, **{key: "0.25"}) == (512, 512)
    assert size(model, **{key: "4"}) == (2048, 2048)
    assert size(model, aspect_ratio="21:9") == (1568, 672)
    assert size(model, [(512, 1024)], aspect_ratio="match_input_image") == (720, 1456)


@pytest.mark.parametrize("model,width,height", [
    (flux2.PRO, 2100, 300), (flux2.DEV, 300, 1460), (pro.PRO_11, 200, 300),
])
def test_a_custom_side_out_of_range_names_the_field(model, width, height):
    # The schema's bounds refuse these first; the rule checks the rounded sides too.
    with pytest.raises(InvalidInput) as caught:
        catalog.size(model, {"aspect_ratio": "custom", "width": width, "height": height}, [])
    fields = [f.field for f in caught.value.fields]
    assert fields == (["input.height"] if width == 300 else ["input.width"])
    assert "must be between 256 and" in caught.value.fields[0].description


def test_a_custom_size_needs_both_sides():
    with pytest.raises(InvalidInput) as caught:
        size(flux2.FLEX, aspect_ratio="custom", width=512)
    assert [(f.type, f.field) for f in caught.value.fields] == [("required", "input.height")]
    assert caught.value.fields[0].description == "height is required when aspect_ratio is custom"


def test_the_flux2_module_answers_for_its_runners():
    inputs = {"aspect_ratio": "match_input_image", "output_megapixels": "1"}
    assert flux2.size(flux2.KLEIN_4B, inputs, [(600, 800)]) == (880, 1184)
    assert flux2.reference_inputs(flux2.DEV) == ["input_images"]
    assert flux2.reference_inputs(flux2.KLEIN_9B_BASE) == ["images"]
    assert catalog.reference_inputs(kontext.KONTEXT_PRO) == ["input_image"]
    assert catalog.reference_inputs(flux1.SCHNELL) == []
