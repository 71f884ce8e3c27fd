"""OpenAI's images fields onto catalog models' inputs, through their schemas."""

from __future__ import annotations

from typing import Any

import pytest

from replicast.models import catalog
from replicast.models.schema_refs import input_properties
from replicast.openai_images.errors import ImageRequestRefused
from replicast.openai_images.mapping import makes_images, model_input, parse_request
from replicast.openai_images.sizes import size_inputs

SCHNELL = "black-forest-labs/flux-schnell"
PRO2 = "black-forest-labs/flux-2-pro"
KLEIN = "black-forest-labs/flux-2-klein-4b"
KONTEXT = "black-forest-labs/flux-kontext-pro"
ULTRA = "black-forest-labs/flux-1.1-pro-ultra"


def schema(name: str) -> dict[str, Any]:
    return catalog.schemas()[name]


def sizes(name: str, size: str | None) -> dict[str, Any]:
    return size_inputs(input_properties(schema(name)), size)


def mapped(name: str, **body: Any) -> dict[str, Any]:
    return model_input(schema(name), parse_request({"prompt": "p", **body}))


@pytest.mark.parametrize(("size", "expected"), [
    ("1024x1024", {"aspect_ratio": "1:1", "megapixels": "1"}),
    ("1536x1024", {"aspect_ratio": "3:2", "megapixels": "1"}),
    ("1024x1536", {"aspect_ratio": "2:3", "megapixels": "1"}),
    ("1792x1024", {"aspect_ratio": "16:9", "megapixels": "1"}),
    ("512x512", {"aspect_ratio": "1:1", "megapixels": "0.25"}),
    ("256x256", {"aspect_ratio": "1:1", "megapixels": "0.25"}),
])
def test_flux_schnell_gets_the_nearest_aspect_ratio_and_megapixels(size, expected):
    assert sizes(SCHNELL, size) == expected


def test_a_flux2_model_with_custom_takes_the_exact_width_and_height():
    assert sizes(PRO2, "1536x1024") == {"aspect_ratio": "custom", "width": 1536,
                                        "height": 1024}


def test_a_flux2_model_falls_back_to_ratio_and_resolution_beyond_its_bounds():
    assert sizes(PRO2, "4096x4096") == {"aspect_ratio": "1:1", "resolution": "4 MP"}


def test_a_klein_model_maps_onto_its_output_megapixels():
    assert sizes(KLEIN, "2048x1152") == {"aspect_ratio": "16:9", "output_megapixels": "2"}


def test_plain_width_and_height_inputs_take_the_size():
    properties = {"prompt": {"type": "string"},
                  "width": {"type": "integer", "minimum": 16, "maximum": 512},
                  "height": {"type": "integer", "minimum": 16, "maximum": 512}}
    assert size_inputs(properties, "320x200") == {"width": 320, "height": 200}
    with pytest.raises(ImageRequestRefused, match="width must be 16 to 512") as refused:
        size_inputs(properties, "1024x1024")
    assert refused.value.param == "size"


@pytest.mark.parametrize("size", [None, "auto"])
def test_auto_leaves_the_model_its_default_size(size):
    assert sizes(SCHNELL, size) == {}


@pytest.mark.parametrize(("name", "size"), [
    (SCHNELL, "3000x1000"), (ULTRA, "1000x3000"), (SCHNELL, "1024"), (SCHNELL, "0x10"),
    (SCHNELL, "1024X1024"),
])
def test_a_size_the_model_cannot_make_is_refused(name, size):
    with pytest.raises(ImageRequestRefused) as refused:
        sizes(name, size)
    assert refused.value.param == "size"


def test_n_goes_to_the_count_input_within_its_bounds():
    assert mapped(SCHNELL, n=4)["num_outputs"] == 4
    with pytest.raises(ImageRequestRefused) as refused:
        mapped(SCHNELL, n=5)
    assert refused.value.param == "n"


def test_n_beyond_one_is_refused_for_a_model_without_a_count_input():
    assert "n" not in mapped(PRO2, n=1)
    with pytest.raises(ImageRequestRefused, match="one image a request"):
        mapped(PRO2, n=2)


def test_output_format_compression_and_quality_map_onto_inputs_the_model_has():
    given = mapped(SCHNELL, output_format="jpeg", output_compression=55, quality="low")
    assert given == {"prompt": "p", "output_format": "jpg", "output_quality": 55,
                     "go_fast": True}
    assert mapped(KONTEXT, output_compression=55, quality="high") == {"prompt": "p"}
    with pytest.raises(ImageRequestRefused) as refused:
        mapped(KONTEXT, output_format="webp")
    assert refused.value.param == "output_format"


def test_extra_fields_name_model_inputs_and_win_over_the_mapping():
    given = mapped(SCHNELL, size="1536x1024", seed=3, num_inference_steps=2,
                   aspect_ratio="21:9", user="someone")
    assert given == {"prompt": "p", "aspect_ratio": "21:9", "megapixels": "1", "seed": 3,
                     "num_inference_steps": 2}
    with pytest.raises(ImageRequestRefused) as refused:
        mapped(SCHNELL, lora_weights="x")
    assert (refused.value.param, refused.value.code) == ("lora_weights", "unknown_parameter")


def test_form_fields_are_typed_by_the_schema():
    asked = parse_request({"prompt": "p", "n": "2", "seed": "5", "go_fast": "false"},
                          form=True)
    assert model_input(schema(SCHNELL), asked) == {"prompt": "p", "num_outputs": 2, "seed": 5,
                                                   "go_fast": False}


MATCH = {"aspect_ratio": "match_input_image"}  # an edit keeps its image's shape


@pytest.mark.parametrize(("name", "images", "expected"), [
    (KONTEXT, ["u1"], {"input_image": "u1", **MATCH}),
    (PRO2, ["u1"], {"input_images": ["u1"], **MATCH, "resolution": "match_input_image"}),
    (PRO2, ["u1", "u2"], {"input_images": ["u1", "u2"], **MATCH,
                          "resolution": "match_input_image"}),
    (KLEIN, ["u1", "u2"], {"images": ["u1", "u2"], **MATCH}),
    ("black-forest-labs/flux-dev", ["u1"], {"image": "u1"}),  # it offers no such choice
])
def test_edit_images_go_to_the_models_image_input(name, images, expected):
    given = model_input(schema(name), parse_request({"prompt": "p"}), images=images)
    assert given == {"prompt": "p", **expected}


@pytest.mark.parametrize(("name", "images", "mask", "param"), [
    (SCHNELL, ["u1"], None, "image"),
    (KONTEXT, ["u1", "u2"], None, "image"),
    (KLEIN, ["u1"], "m", "mask"),
])
def test_edits_a_model_cannot_take_are_refused(name, images, mask, param):
    with pytest.raises(ImageRequestRefused) as refused:
        model_input(schema(name), parse_request({"prompt": "p"}), images=images, mask=mask)
    assert refused.value.param == param


def test_a_mask_goes_to_a_mask_input():
    with_mask = {"components": {"schemas": {"Input": {"properties": {
        "prompt": {"type": "string"}, "image": {"type": "string", "format": "uri"},
        "mask": {"type": "string", "format": "uri"}}}}}}
    given = model_input(with_mask, parse_request({"prompt": "p"}), images=["u"], mask="m")
    assert given == {"prompt": "p", "image": "u", "mask": "m"}


def test_every_catalog_model_makes_images_and_text_does_not():
    assert all(makes_images(s) for s in catalog.schemas().values())
    text = {"components": {"schemas": {"Output": {"type": "string"}}}}
    assert not makes_images(text)


@pytest.mark.parametrize(("body", "param"), [
    ({}, "prompt"), ({"prompt": " "}, "prompt"), ({"prompt": "p", "n": 0}, "n"),
    ({"prompt": "p", "n": "2"}, "n"), ({"prompt": "p", "response_format": "svg"},
                                       "response_format"),
    ({"prompt": "p", "background": "transparent"}, "background"),
    ({"prompt": "p", "partial_images": 4}, "partial_images"),
    ({"prompt": "p", "quality": "ultra"}, "quality"),
])
def test_bad_openai_fields_are_refused_naming_them(body, param):
    with pytest.raises(ImageRequestRefused) as refused:
        parse_request(body)
    assert refused.value.param == param


def test_an_edit_with_a_size_takes_that_size_not_its_images():
    given = model_input(schema(KLEIN), parse_request({"prompt": "p", "size": "1024x1024"}),
                        images=["u1"])
    assert given["aspect_ratio"] == "1:1"
