"""Which strings of a routed model's output are files: only where its schema says so."""

from __future__ import annotations

from typing import Any

import pytest

from replicast.gateway.outputs import DeclaredFiles

URI = {"type": "string", "format": "uri"}
A, B = "https://up.test/a.png", "https://up.test/b.png"
METADATA = "http://169.254.169.254/latest/meta-data/iam/"


def declared(output: dict[str, Any], **components: Any) -> DeclaredFiles:
    return DeclaredFiles({"components": {"schemas": {"Output": output, **components}}})


@pytest.mark.parametrize("output,value,files", [
    ({**URI, "title": "Output"}, A, [A]),  # -> Path
    ({"type": "array", "items": URI, "title": "Output"}, [A, B, A], [A, B]),  # list[Path]
    ({"type": "array", "items": URI, "x-cog-array-type": "iterator"}, [A], [A]),
    ({"type": "string", "title": "Output"}, METADATA, []),  # -> str
    ({"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator",
      "x-cog-array-display": "concatenate"}, [METADATA, A], []),  # tokens
    ({"title": "Output"}, {"anything": [A, METADATA]}, []),  # -> Any declares nothing
    ({**URI, "title": "Output"}, "data:text/plain;base64,eA==", []),  # nothing to fetch
])
def test_only_strings_declared_uri_are_files(output, value, files):
    assert declared(output).urls(value) == files


def test_an_objects_properties_are_read_one_by_one():
    files = declared({"title": "Output", "type": "object", "properties": {
        "image": {**URI, "title": "Image"},
        "caption": {"title": "Caption", "type": "string"},
        "mask": {"anyOf": [URI, {"type": "null"}], "title": "Mask"},  # Optional[Path]
    }})
    value = {"image": A, "caption": METADATA, "mask": B, "extra": "http://10.0.0.1/"}
    assert files.urls(value) == [A, B]
    copied = files.replace(value, {A: "https://here/a.png", B: "https://here/b.png"})
    assert copied == {"image": "https://here/a.png", "caption": METADATA,
                      "mask": "https://here/b.png", "extra": "http://10.0.0.1/"}


def test_references_are_followed_as_cog_writes_them():
    files = declared(
        {"$ref": "#/components/schemas/Result", "title": "Output"},
        Result={"title": "Result", "type": "object", "properties": {
            "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
            "note": {"type": "string"}}},
        Part={"type": "object", "properties": {
            "file": {"allOf": [{"$ref": "#/components/schemas/Link"}],
                     "description": "The part"},
            "label": {"type": "string"}}},
        Link=URI,
    )
    value = {"parts": [{"file": A, "label": B}], "note": METADATA}
    assert files.urls(value) == [A]


def test_a_union_declares_a_file_only_when_one_branch_fits():
    either = declared({"anyOf": [URI, {"type": "string"}]})  # Path or str: which?
    assert either.urls(A) == []
    files_or_text = declared({"anyOf": [{"type": "array", "items": URI},
                                        {"type": "string"}]})
    assert files_or_text.urls([A]) == [A] and files_or_text.urls(METADATA) == []


def test_a_reference_loop_declares_nothing():
    files = declared({"$ref": "#/components/schemas/Loop"},
                     Loop={"$ref": "#/components/schemas/Loop"})
    assert files.urls(A) == []


def test_items_of_a_streamed_output_are_judged_by_the_items_schema():
    tokens = declared({"type": "array", "items": {"type": "string"},
                       "x-cog-array-type": "iterator"})
    frames = declared({"type": "array", "items": URI, "x-cog-array-type": "iterator"})
    assert not tokens.items_hold_files([A, "text"])
    assert frames.items_hold_files([A])


def test_a_malformed_schema_declares_nothing():
    files = DeclaredFiles({"components": {"schemas": {
        "Output": {"anyOf": "not a list", "type": "array", "items": [URI]}}}})
    assert files.urls([A]) == []
    assert DeclaredFiles({}).urls(A) == []
