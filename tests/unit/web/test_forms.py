"""A model's form from its schema, and typed input from what the browser posts."""

from __future__ import annotations

import pytest

from replicast.errors import InvalidInput
from replicast.models.registry import builtin_models
from replicast.models.schema import InputField, cog_openapi
from replicast.web import forms

SCHNELL = next(m for m in builtin_models() if m.full_name == "black-forest-labs/flux-schnell")
DEV = next(m for m in builtin_models() if m.full_name == "black-forest-labs/flux-dev")
KONTEXT = next(m for m in builtin_models()
               if m.full_name == "black-forest-labs/flux-kontext-pro")


def _by_name(model):
    return {f.name: f for f in forms.fields_of(model.openapi_schema)}


def test_fields_follow_x_order_not_the_order_of_the_properties():
    schema = cog_openapi([InputField("b", "string"), InputField("a", "integer", default=1)],
                         {"type": "string"})
    properties = schema["components"]["schemas"]["Input"]["properties"]
    schema["components"]["schemas"]["Input"]["properties"] = dict(reversed(properties.items()))
    assert [f.name for f in forms.fields_of(schema)] == ["b", "a"]
    assert [f.name for f in forms.fields_of(SCHNELL.openapi_schema)] == [
        "prompt", "aspect_ratio", "num_outputs", "num_inference_steps", "seed",
        "output_format", "output_quality", "disable_safety_checker", "go_fast", "megapixels"]


def test_each_kind_of_input_gets_its_widget():
    fields = _by_name(SCHNELL)
    assert fields["prompt"].widget == forms.TEXT and fields["prompt"].required
    # Choices come from a component referenced through allOf.
    assert fields["aspect_ratio"].widget == forms.SELECT
    assert fields["aspect_ratio"].choices[:3] == ("1:1", "16:9", "21:9")
    assert fields["aspect_ratio"].default == "1:1" and not fields["aspect_ratio"].required
    assert fields["num_outputs"].widget == forms.RANGE
    assert (fields["num_outputs"].minimum, fields["num_outputs"].maximum) == (1, 4)
    assert fields["seed"].widget == forms.NUMBER and not fields["seed"].has_default
    assert fields["go_fast"].widget == forms.CHECKBOX and fields["go_fast"].default is True
    assert fields["prompt"].description == "Prompt for generated image"
    dev = _by_name(DEV)
    assert dev["image"].widget == forms.URI and dev["image"].accepts_images
    assert dev["prompt_strength"].widget == forms.RANGE and dev["prompt_strength"].type == "number"
    kontext = _by_name(KONTEXT)
    assert kontext["input_image"].widget == forms.URI and kontext["input_image"].nullable
    assert kontext["aspect_ratio"].choices[0] == "match_input_image"  # an inline enum


def test_secrets_and_structured_inputs():
    schema = cog_openapi([
        InputField("key", "string", extra={"x-cog-secret": True}),
        InputField("tags", "array", items={"type": "string"}, default=None),
        InputField("size", "integer", choices=[256, 512], default=512),
    ], {"type": "string"})
    fields = {f.name: f for f in forms.fields_of(schema)}
    assert fields["key"].widget == forms.SECRET
    assert fields["tags"].widget == forms.JSON
    assert fields["size"].widget == forms.SELECT and fields["size"].choices == (256, 512)


def test_a_fresh_form_shows_the_defaults_as_text():
    values = forms.initial_values(forms.fields_of(DEV.openapi_schema))
    assert values["prompt_strength"] == "0.8"
    assert values["guidance"] == "3.5"
    assert values["num_outputs"] == "1"
    assert values["go_fast"] == "true" and values["disable_safety_checker"] == "false"
    assert "prompt" not in values and "seed" not in values


def test_slider_steps():
    fields = _by_name(DEV)
    assert fields["prompt_strength"].slider_step == "0.01"
    assert fields["guidance"].slider_step == "0.1"
    assert fields["num_outputs"].slider_step == "1"
    assert fields["num_outputs"].step == "1" and fields["guidance"].step == "any"


def test_posted_values_become_typed_input():
    fields = forms.fields_of(DEV.openapi_schema)
    inputs, problems = forms.to_input(fields, {
        "prompt": "  a boat  ", "aspect_ratio": "16:9", "num_outputs": "2",
        "prompt_strength": "0.5", "guidance": "3.5", "seed": "42", "go_fast": "true",
        "output_quality": "80.0", "image": "", "megapixels": "", "csrf_token": "x",
    })
    assert problems == []
    assert inputs == {
        "prompt": "  a boat  ", "aspect_ratio": "16:9", "num_outputs": 2,
        "prompt_strength": 0.5, "guidance": 3.5, "seed": 42, "go_fast": True,
        # An unchecked box is not posted at all: it is false, not left out.
        "disable_safety_checker": False, "output_quality": 80,
    }
    assert type(inputs["num_outputs"]) is int and type(inputs["guidance"]) is float
    DEV.validator.validate(inputs)  # what the form makes, the model takes


def test_empty_optional_fields_are_left_out_so_defaults_apply():
    fields = forms.fields_of(SCHNELL.openapi_schema)
    inputs, problems = forms.to_input(fields, {"prompt": "x", "seed": " ", "num_outputs": ""})
    assert problems == []
    assert "seed" not in inputs and "num_outputs" not in inputs
    filled, _ = SCHNELL.validator.validate(inputs)
    assert filled["num_outputs"] == 1


def test_an_empty_required_field_is_left_for_the_schema_to_report():
    inputs, problems = forms.to_input(forms.fields_of(SCHNELL.openapi_schema), {"prompt": ""})
    assert "prompt" not in inputs and problems == []


@pytest.mark.parametrize("name,raw,message", [
    ("num_outputs", "two", "Enter a whole number"),
    ("num_outputs", "1.5", "Enter a whole number"),
    ("seed", "nan", "Enter a whole number"),
    ("output_quality", "inf", "Enter a whole number"),
])
def test_unreadable_numbers_are_reported_on_their_field(name, raw, message):
    inputs, problems = forms.to_input(forms.fields_of(SCHNELL.openapi_schema),
                                      {"prompt": "x", name: raw})
    assert name not in inputs
    assert [(p.field, p.description) for p in problems] == [(f"input.{name}", message)]


def test_numbers_and_json():
    schema = cog_openapi([
        InputField("scale", "number", default=1.0),
        InputField("tags", "array", items={"type": "string"}, default=None),
        InputField("size", "integer", choices=[256, 512], default=512),
    ], {"type": "string"})
    fields = forms.fields_of(schema)
    inputs, problems = forms.to_input(fields, {"scale": "1e-3", "tags": '["a", "b"]',
                                               "size": "256"})
    assert problems == [] and inputs == {"scale": 0.001, "tags": ["a", "b"], "size": 256}
    _, problems = forms.to_input(fields, {"scale": "1e999", "tags": "[a"})
    assert {(p.field, p.description) for p in problems} == {
        ("input.scale", "Enter a number"), ("input.tags", "Enter valid JSON")}


def test_a_choice_not_offered_is_passed_on_for_the_schema_to_refuse():
    fields = forms.fields_of(SCHNELL.openapi_schema)
    inputs, _ = forms.to_input(fields, {"prompt": "x", "aspect_ratio": "7:1"})
    assert inputs["aspect_ratio"] == "7:1"
    with pytest.raises(InvalidInput, match="aspect_ratio"):
        SCHNELL.validator.validate(inputs)


def test_every_builtin_model_gets_a_form_whose_defaults_it_takes():
    for model in builtin_models():
        fields = forms.fields_of(model.openapi_schema)
        assert sorted(f.name for f in fields) == sorted(model.validator.properties)
        values = {**forms.initial_values(fields), "prompt": "x"}
        inputs, problems = forms.to_input(fields, values)
        assert problems == []
        model.validator.validate(inputs)


def test_a_union_input_is_a_text_field_not_one_of_its_types():
    schema = {"components": {"schemas": {"Input": {"type": "object", "properties": {
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    }}}}}
    fields = {f.name: f for f in forms.fields_of(schema)}
    assert fields["either"].widget == forms.TEXT
    assert fields["seed"].widget == forms.NUMBER  # Optional[int]: its one type


def test_json_the_store_cannot_keep_is_reported_on_its_field():
    schema = cog_openapi([InputField("tags", "array", items={}, default=None)],
                         {"type": "string"})
    fields = forms.fields_of(schema)
    for raw in ["[" * 300 + "]" * 300, "[18446744073709551616]"]:
        inputs, problems = forms.to_input(fields, {"tags": raw})
        assert "tags" not in inputs
        assert [p.field for p in problems] == ["input.tags"]
        assert "Enter valid JSON" not in problems[0].description


def test_a_list_of_images_is_urls_one_a_line_and_an_upload_of_several():
    flex = next(m for m in builtin_models() if m.full_name == "black-forest-labs/flux-2-flex")
    fields = {f.name: f for f in forms.fields_of(flex.openapi_schema)}
    images = fields["input_images"]
    assert images.widget == forms.URIS and images.accepts_images
    assert images.uploads == forms.LIST_UPLOADS and fields["prompt"].uploads == 0
    assert forms.initial_values(list(fields.values()))["input_images"] == ""
    inputs, problems = forms.to_input(list(fields.values()), {
        "prompt": "p", "input_images": " https://a.test/1.png \n\n https://a.test/2.png\n",
        "width": "512", "height": ""})
    assert problems == []
    assert inputs["input_images"] == ["https://a.test/1.png", "https://a.test/2.png"]
    assert inputs["width"] == 512 and "height" not in inputs
    assert images.display(["https://a.test/1.png", "x"]) == "https://a.test/1.png\nx"
    schema = {"components": {"schemas": {"Input": {"type": "object", "properties": {
        "pics": {"type": "array", "items": {"type": "string", "format": "uri"}, "maxItems": 3},
        "tags": {"type": "array", "items": {"type": "string"}}}}}}}
    listed = {f.name: f for f in forms.fields_of(schema)}
    assert listed["pics"].widget == forms.URIS and listed["pics"].uploads == 3
    assert listed["tags"].widget == forms.JSON


def test_inputs_without_x_order_follow_the_ordered_ones_as_replicate_lists_them():
    names = [f.name for f in forms.fields_of(KONTEXT.openapi_schema)]
    assert names == ["aspect_ratio", "output_format", "seed", "prompt", "input_image",
                     "safety_tolerance", "prompt_upsampling"]
