import pytest

from replicast.errors import InvalidInput
from replicast.models import flux_spec
from replicast.models.validation import InputValidator

SCHNELL = InputValidator(flux_spec.schemas()[flux_spec.SCHNELL])
DEV = InputValidator(flux_spec.schemas()[flux_spec.DEV])
KONTEXT = InputValidator(flux_spec.schemas()[flux_spec.KONTEXT_PRO])


def problems(validator, value):
    with pytest.raises(InvalidInput) as caught:
        validator.validate(value)
    return {(f.type, f.field, f.description) for f in caught.value.fields}


def test_defaults_are_filled_in_and_unknown_inputs_dropped():
    inputs, unknown = SCHNELL.validate({"prompt": "a boat", "colour": "red"})
    assert unknown == ["colour"]
    assert inputs == {
        "prompt": "a boat", "aspect_ratio": "1:1", "num_outputs": 1, "num_inference_steps": 4,
        "output_format": "webp", "output_quality": 80, "disable_safety_checker": False,
        "go_fast": True, "megapixels": "1",
    }


def test_integral_numbers_count_as_integers():
    inputs, _ = SCHNELL.validate({"prompt": "p", "num_outputs": 2.0, "seed": 7.0})
    assert inputs["num_outputs"] == 2 and isinstance(inputs["num_outputs"], int)
    assert isinstance(inputs["seed"], int)


def test_every_problem_is_reported_in_replicates_words():
    assert problems(SCHNELL, {"num_outputs": 5, "num_inference_steps": 0, "seed": "x",
                              "aspect_ratio": "2:1", "output_quality": 101, "go_fast": "yes"}) == {
        ("required", "input.prompt", "prompt is required"),
        ("number_lte", "input.num_outputs", "Must be less than or equal to 4"),
        ("number_gte", "input.num_inference_steps", "Must be greater than or equal to 1"),
        ("invalid_type", "input.seed", "Invalid type. Expected: integer, given: string"),
        ("enum", "input.aspect_ratio",
         'aspect_ratio must be one of the following: "1:1", "16:9", "21:9", "3:2", "2:3", '
         '"4:5", "5:4", "3:4", "4:3", "9:16", "9:21"'),
        ("number_lte", "input.output_quality", "Must be less than or equal to 100"),
        ("invalid_type", "input.go_fast", "Invalid type. Expected: boolean, given: string"),
    }


@pytest.mark.parametrize("value,given", [(None, "null"), (1.5, "number"), (True, "boolean"),
                                         ([1], "array"), ({}, "object")])
def test_type_errors_name_what_was_given(value, given):
    assert problems(SCHNELL, {"prompt": "p", "seed": value}) == {
        ("invalid_type", "input.seed", f"Invalid type. Expected: integer, given: {given}"),
    }


def test_nullable_inputs_accept_null_and_default_to_it():
    inputs, _ = KONTEXT.validate({"prompt": "p", "seed": None})
    assert inputs["seed"] is None and inputs["input_image"] is None
    assert inputs["aspect_ratio"] == "match_input_image"
    assert problems(KONTEXT, {"prompt": "p", "output_format": "webp"}) == {
        ("enum", "input.output_format", 'output_format must be one of the following: "jpg", "png"'),
    }


@pytest.mark.parametrize("url", ["https://example.com/a.png", "http://10.0.0.1/x",
                                 "data:image/png;base64,iVBORw0KGgo="])
def test_file_inputs_take_urls_and_data_uris(url):
    inputs, _ = DEV.validate({"prompt": "p", "image": url})
    assert inputs["image"] == url


@pytest.mark.parametrize("url", ["not a url", "ftp://host/file", "file:///etc/passwd",
                                 "data:nocomma", "https://", 5])
def test_file_inputs_refuse_anything_else(url):
    found = problems(DEV, {"prompt": "p", "image": url})
    assert len(found) == 1
    kind, field, _ = found.pop()
    assert field == "input.image" and kind in {"format", "invalid_type"}


def test_prompt_must_be_text():
    assert problems(SCHNELL, {"prompt": 5}) == {
        ("invalid_type", "input.prompt", "Invalid type. Expected: string, given: integer"),
    }


@pytest.mark.parametrize("seed", [1e20, -1e19, 9.3e18])
def test_integral_floats_too_large_for_an_integer_are_refused(seed):
    assert problems(SCHNELL, {"prompt": "p", "seed": seed}) == {
        ("number_out_of_range", "input.seed",
         "Must be an integer between -9223372036854775808 and 9223372036854775807"),
    }


ANY_OF = InputValidator({"components": {"schemas": {"Input": {"type": "object", "properties": {
    "seed": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
    "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
}}}}})


def test_optional_written_as_any_of_takes_its_type_or_null():
    assert ANY_OF.validate({"seed": 3})[0]["seed"] == 3
    assert ANY_OF.validate({"seed": None})[0]["seed"] is None
    for bad in (-1, "3"):
        with pytest.raises(InvalidInput):
            ANY_OF.validate({"seed": bad})


def test_a_true_union_is_checked_as_one():
    assert ANY_OF.validate({"either": 1})[0]["either"] == 1
    assert ANY_OF.validate({"either": "one"})[0]["either"] == "one"
    with pytest.raises(InvalidInput):
        ANY_OF.validate({"either": 1.5})


NULLABLE = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {
        "note": {"type": "string", "nullable": True},
        "size": {"allOf": [{"$ref": "#/components/schemas/size"}], "nullable": True,
                 "default": None},
    }},
    "size": {"type": "string", "enum": ["s", "m"]},
}}}


def test_without_null_inputs_a_nullable_input_may_be_left_out_but_not_given_null():
    strict, lenient = (InputValidator(NULLABLE, null_inputs=False), InputValidator(NULLABLE))
    assert strict.validate({})[0] == {"note": None, "size": None}
    assert strict.validate({"note": "n", "size": "s"})[0] == {"note": "n", "size": "s"}
    assert problems(strict, {"note": None, "size": None}) == {
        ("invalid_type", "input.note", "Invalid type. Expected: string, given: null"),
        ("invalid_type", "input.size", "Invalid type. Expected: string, given: null"),
    }
    assert lenient.validate({"note": None, "size": None})[0] == {"note": None, "size": None}
