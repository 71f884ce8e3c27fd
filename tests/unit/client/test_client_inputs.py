"""``-i key=value``: parsing, typing by the model's schema, local files."""

from __future__ import annotations

import pytest

from replicast.client.connection import ClientError
from replicast.client.inputs import (
    LocalFile,
    build_input,
    files_in,
    guess,
    parse_assignment,
    replace_files,
)
from replicast.models.schema_refs import input_properties

SCHEMA = {
    "components": {"schemas": {
        "Input": {"type": "object", "properties": {
            "prompt": {"type": "string"},
            "seed": {"type": "integer"},
            "guidance": {"type": "number"},
            "go_fast": {"type": "boolean"},
            "image": {"type": "string", "format": "uri"},
            "images": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "tags": {"type": "array", "items": {"type": "integer"}},
            "options": {"type": "object"},
            "aspect_ratio": {"allOf": [{"$ref": "#/components/schemas/aspect_ratio"}],
                             "default": "1:1"},
        }},
        "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9"]},
    }},
}
PROPERTIES = input_properties(SCHEMA)


def test_a_value_keeps_everything_after_the_first_equals_sign():
    assert parse_assignment("prompt=a=b c") == ("prompt", "a=b c")
    assert parse_assignment("prompt=") == ("prompt", "")


@pytest.mark.parametrize("text", ["prompt", "=x", "two words=x", "-x=1"])
def test_an_assignment_without_a_key_is_refused_with_usage_status(text):
    with pytest.raises(ClientError) as caught:
        parse_assignment(text)
    assert caught.value.exit_code == 2
    assert "key=value" in str(caught.value)


def test_values_take_the_type_of_their_property():
    values = build_input(["prompt=42", "seed=42", "guidance=3.5", "go_fast=false",
                          "aspect_ratio=16:9", "options={\"a\": 1}"], PROPERTIES)
    assert values == {"prompt": "42", "seed": 42, "guidance": 3.5, "go_fast": False,
                      "aspect_ratio": "16:9", "options": {"a": 1}}
    assert isinstance(values["seed"], int) and isinstance(values["guidance"], float)


def test_a_whole_number_for_a_number_property_stays_an_integer():
    assert build_input(["guidance=3"], PROPERTIES) == {"guidance": 3}


def test_a_value_that_does_not_fit_its_type_is_sent_as_given_for_the_server_to_name():
    assert build_input(["seed=abc", "go_fast=maybe"], PROPERTIES) == {
        "seed": "abc", "go_fast": "maybe"}


def test_a_fraction_for_an_integer_property_is_sent_as_a_number():
    values = build_input(["seed=1.5"], PROPERTIES)
    assert values == {"seed": 1.5} and isinstance(values["seed"], float)


def test_properties_the_schema_does_not_describe_are_guessed():
    assert build_input(["n=3", "x=0.5", "on=true", "off=false", "name=boat", "l=[1, 2]"],
                       {}) == {"n": 3, "x": 0.5, "on": True, "off": False, "name": "boat",
                               "l": [1, 2]}


@pytest.mark.parametrize("raw", ["nan", "inf", "1_000", "True", "[not json", "0x10", ""])
def test_guessing_keeps_strings_that_only_look_like_other_things(raw):
    assert guess(raw) == raw


def test_array_properties_collect_repeated_keys_or_take_json():
    assert build_input(["tags=1", "tags=2"], PROPERTIES) == {"tags": [1, 2]}
    assert build_input(["tags=[3, 4]"], PROPERTIES) == {"tags": [3, 4]}


def test_a_repeated_key_of_a_single_value_is_refused():
    with pytest.raises(ClientError, match="more than once"):
        build_input(["seed=1", "seed=2"], PROPERTIES)


def test_an_object_property_needs_json():
    with pytest.raises(ClientError, match="JSON object"):
        build_input(["options=a"], PROPERTIES)


def test_at_path_is_a_local_file_for_any_property(tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(b"png")
    values = build_input([f"image=@{image}", f"anything=@{image}", f"images=@{image}"],
                         PROPERTIES)
    assert values == {"image": LocalFile(image), "anything": LocalFile(image),
                      "images": [LocalFile(image)]}
    assert files_in(values) == [LocalFile(image)] * 3


def test_an_existing_path_is_a_file_only_for_a_uri_property(tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(b"png")
    values = build_input([f"image={image}", f"prompt={image}"], PROPERTIES)
    assert values == {"image": LocalFile(image), "prompt": str(image)}


def test_urls_for_a_uri_property_are_sent_as_they_are():
    url = "https://example.com/a.png"
    assert build_input([f"image={url}", "images=data:image/png;base64,AA=="], PROPERTIES) == {
        "image": url, "images": ["data:image/png;base64,AA=="]}


def test_a_missing_file_is_refused_naming_the_input(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ClientError, match=r"-i image=@.*nope\.png: no such file"):
        build_input([f"image=@{missing}"], PROPERTIES)
    with pytest.raises(ClientError, match="no such file"):
        build_input([f"image={missing}"], PROPERTIES)
    with pytest.raises(ClientError, match="not a file"):
        build_input([f"image=@{tmp_path}"], PROPERTIES)


def test_uploaded_urls_replace_the_local_files(tmp_path):
    path = tmp_path / "a.png"
    values = {"image": LocalFile(path), "images": [LocalFile(path)], "seed": 1}
    assert replace_files(values, {path: "http://s/v1/files/f"}) == {
        "image": "http://s/v1/files/f", "images": ["http://s/v1/files/f"], "seed": 1}


def test_references_and_optional_branches_resolve_to_their_type():
    schema = {"components": {"schemas": {"Input": {"properties": {
        "ratio": {"allOf": [{"$ref": "#/components/schemas/ratio"}], "description": "d"},
        "seed": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
    }}, "ratio": {"type": "string", "enum": ["1:1"]}}}}
    properties = input_properties(schema)
    assert properties["ratio"]["type"] == "string"
    assert properties["ratio"]["description"] == "d"
    assert build_input(["seed=7", "ratio=1"], properties) == {"seed": 7, "ratio": "1"}
