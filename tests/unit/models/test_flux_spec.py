import pytest

from replicast.models import flux_spec


# Replicate's published table (reference: replicate-api.md, section 9.3).
@pytest.mark.parametrize("ratio,one,quarter", [
    ("1:1", (1024, 1024), (512, 512)), ("16:9", (1344, 768), (672, 384)),
    ("21:9", (1536, 640), (768, 320)), ("3:2", (1216, 832), (608, 416)),
    ("2:3", (832, 1216), (416, 608)), ("4:5", (896, 1088), (448, 544)),
    ("5:4", (1088, 896), (544, 448)), ("3:4", (896, 1152), (448, 576)),
    ("4:3", (1152, 896), (576, 448)), ("9:16", (768, 1344), (384, 672)),
    ("9:21", (640, 1536), (320, 768)),
])
def test_flux_sizes(ratio, one, quarter):
    assert flux_spec.flux_size(ratio, "1") == one
    assert flux_spec.flux_size(ratio, "0.25") == quarter
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
    assert flux_spec.img2img_size(*given) == expected


@pytest.mark.parametrize("ratio,size", [
    ("1:1", (1024, 1024)), ("16:9", (1328, 800)), ("9:21", (672, 1568)),
    ("2:1", (1456, 720)), ("1:2", (720, 1456)),
])
def test_kontext_sizes_by_ratio(ratio, size):
    assert flux_spec.kontext_size(ratio, None) == size


@pytest.mark.parametrize("image,size", [
    ((800, 600), (1184, 880)), ((600, 800), (880, 1184)), ((500, 500), (1024, 1024)),
    ((4000, 1000), (1568, 672)),
])
def test_kontext_matches_the_input_image(image, size):
    assert flux_spec.kontext_size("match_input_image", image) == size


def test_kontext_without_an_image_is_square():
    assert flux_spec.kontext_size("match_input_image", None) == (1024, 1024)


def test_every_kontext_ratio_choice_has_a_size():
    for choice in flux_spec.KONTEXT_RATIO_CHOICES:
        width, height = flux_spec.kontext_size(choice, (640, 480))
        assert width % 16 == 0 and height % 16 == 0


def test_schemas_have_replicates_inputs_in_order():
    schemas = flux_spec.schemas()
    schnell = schemas[flux_spec.SCHNELL]["components"]["schemas"]
    props = schnell["Input"]["properties"]
    assert sorted(props, key=lambda k: props[k]["x-order"]) == [
        "prompt", "aspect_ratio", "num_outputs", "num_inference_steps", "seed",
        "output_format", "output_quality", "disable_safety_checker", "go_fast", "megapixels",
    ]
    assert schnell["Input"]["required"] == ["prompt"]
    assert props["aspect_ratio"]["allOf"] == [{"$ref": "#/components/schemas/aspect_ratio"}]
    assert schnell["aspect_ratio"]["enum"][0] == "1:1"
    steps = props["num_inference_steps"]
    assert (steps["default"], steps["minimum"], steps["maximum"]) == (4, 1, 4)
    assert "default" not in props["seed"]
    assert schnell["Output"] == {"title": "Output", "type": "array",
                                 "items": {"type": "string", "format": "uri"}}
    dev = schemas[flux_spec.DEV]["components"]["schemas"]["Input"]["properties"]
    assert dev["image"]["format"] == "uri" and dev["guidance"]["default"] == 3
    kontext = schemas[flux_spec.KONTEXT_PRO]["components"]["schemas"]
    assert kontext["Output"] == {"title": "Output", "type": "string", "format": "uri"}
    assert kontext["Input"]["properties"]["output_format"]["enum"] == ["jpg", "png"]
    assert kontext["Input"]["properties"]["input_image"]["nullable"] is True
