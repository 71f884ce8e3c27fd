"""What a catalog model refuses at create beyond its schema, naming the field."""

import pytest

from replicast.errors import InvalidInput
from replicast.models.catalog import checks
from replicast.models.registry import builtin_models

MODELS = {m.full_name: m for m in builtin_models()}
B = "black-forest-labs/"
PNG = "data:image/png;base64,iVBORw0KGgo="
URL = "https://example.com/a.png"


def refused(model, **inputs):
    with pytest.raises(InvalidInput) as caught:
        MODELS[B + model].validator.validate({"prompt": "p", **inputs})
    return [(f.type, f.field, f.description) for f in caught.value.fields]


@pytest.mark.parametrize("model,field,limit", [
    ("flux-2-pro", "input_images", 8), ("flux-2-max", "input_images", 8),
    ("flux-2-flex", "input_images", 10), ("flux-2-dev", "input_images", 4),
    ("flux-2-klein-4b", "images", 5), ("flux-2-klein-9b", "images", 5),
    ("flux-2-klein-4b-base", "images", 5), ("flux-2-klein-9b-base", "images", 5),
])
def test_too_many_reference_images_are_refused(model, field, limit):
    MODELS[B + model].validator.validate({"prompt": "p", field: [URL] * limit})
    assert refused(model, **{field: [URL] * (limit + 1)}) == [
        ("array_max_items", f"input.{field}",
         f"{field} takes at most {limit} images; {limit + 1} were given")]


@pytest.mark.parametrize("model,field,index", [
    ("flux-2-pro", "input_images", ".1"), ("flux-2-klein-4b", "images", ".1"),
    ("flux-kontext-pro", "input_image", ""), ("flux-dev", "image", ""),
    ("flux-1.1-pro-ultra", "image_prompt", ""),
])
def test_a_data_uri_that_is_no_image_is_refused(model, field, index):
    text = "data:text/plain;base64,aGVsbG8="
    value = [PNG, text] if index else text
    assert refused(model, **{field: value}) == [
        ("format", f"input.{field}{index}",
         "The data URI holds text/plain, not an image; use jpeg, png, gif or webp")]


@pytest.mark.parametrize("model", ["flux-2-pro", "flux-2-flex", "flux-2-dev", "flux-pro",
                                   "flux-1.1-pro"])
def test_a_custom_size_needs_width_and_height(model):
    assert refused(model, aspect_ratio="custom") == [
        ("required", "input.width", "width is required when aspect_ratio is custom"),
        ("required", "input.height", "height is required when aspect_ratio is custom")]
    MODELS[B + model].validator.validate({"prompt": "p", "aspect_ratio": "custom",
                                          "width": 512, "height": 512})


def test_sides_without_custom_are_ignored_as_replicate_says():
    inputs, _ = MODELS[B + "flux-2-pro"].validator.validate(
        {"prompt": "p", "width": 300, "height": 300})
    assert inputs["aspect_ratio"] == "1:1"


def test_a_data_uri_of_untyped_bytes_is_left_for_the_run_to_read():
    # The official Python client sends an in-memory file so.
    untyped = "data:application/octet-stream;base64,iVBORw0KGgo="
    MODELS[B + "flux-2-pro"].validator.validate({"prompt": "p", "input_images": [untyped]})
    MODELS[B + "flux-dev"].validator.validate({"prompt": "p", "image": untyped})


def test_data_uri_types():
    assert checks.data_uri_type("data:IMAGE/PNG;base64,xx") == "image/png"
    assert checks.data_uri_type("data:,hello") is None
    assert checks.data_uri_type(URL) is None
