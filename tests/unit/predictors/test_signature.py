"""Schemas generated from predictor signatures, in Cog's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal, Optional

import pytest

from replicast import (
    AsyncConcatenateIterator,
    BaseModel,
    BasePredictor,
    BaseRunner,
    ConcatenateIterator,
    File,
    Input,
    Opaque,
    Path,
    Secret,
)
from replicast.predictors.signature import SignatureError, describe, entry_point, is_iterator_output


def inputs_of(function) -> dict[str, Any]:
    schema, _ = describe(function)
    return schema["components"]["schemas"]["Input"]


def output_of(function) -> dict[str, Any]:
    schema, _ = describe(function)
    return schema["components"]["schemas"]["Output"]


def test_required_optional_and_defaults_follow_cog():
    def predict(a: str, b: str = Input(description="b"), c: str = "x",
                d: Optional[str] = Input(default=None),  # noqa: UP045 (both spellings)
                e: int = Input(default=None), f: int | None = None, g: int | None = Input(),
                h: Optional[str] = None, i: Secret = Input(default=None),  # noqa: UP045
                j: Secret = Input(description="j")) -> str:
        return ""

    schema = inputs_of(predict)
    # No default, or a None default on a type that is not Optional: required (as in Cog).
    assert schema["required"] == ["a", "b", "e", "j"]
    properties = schema["properties"]
    assert properties["c"]["default"] == "x"
    # An explicit None default on an Optional is published; Input() names none.
    for name in ("d", "f", "h", "i"):
        assert properties[name]["default"] is None and properties[name]["nullable"] is True
    assert "default" not in properties["g"] and properties["g"]["nullable"] is True
    assert "default" not in properties["j"] and "nullable" not in properties["j"]


def test_constraints_map_to_json_schema_keywords():
    def predict(n: float = Input(default=1.5, ge=0, le=2, description="n"),
                s: str = Input(default="ab", min_length=1, max_length=3, regex="^[a-z]+$",
                               deprecated=True),
                f: Path = Input(description="a file", accept="image/*")) -> str:
        return ""

    properties = inputs_of(predict)["properties"]
    assert properties["n"] == {"type": "number", "title": "N", "default": 1.5, "minimum": 0,
                               "maximum": 2, "x-order": 0, "description": "n"}
    assert properties["s"] == {"type": "string", "title": "S", "default": "ab", "minLength": 1,
                               "maxLength": 3, "pattern": "^[a-z]+$", "deprecated": True,
                               "x-order": 1}
    assert properties["f"] == {"type": "string", "title": "F", "format": "uri",
                               "x-cog-accept": "image/*", "x-order": 2,
                               "description": "a file"}


def test_choices_and_literals_become_enum_components():
    def predict(color: str = Input(default="red", choices=["red", "blue"]),
                steps: int = Input(default=4, choices=[4, 8]),
                size: Literal["s", "m"] = "s") -> str:
        return ""

    schema, _ = describe(predict)
    components = schema["components"]["schemas"]
    for name, values, kind in (("color", ["red", "blue"], "string"), ("steps", [4, 8], "integer"),
                               ("size", ["s", "m"], "string")):
        assert components["Input"]["properties"][name]["allOf"] == [
            {"$ref": f"#/components/schemas/{name}"}]
        assert components[name] == {"enum": values, "type": kind, "title": name,
                                    "description": "An enumeration."}


def test_file_secret_and_list_types():
    def predict(p: Path, f: File, s: Secret, words: list[str], files: list[Path],
                maybe: list[int] | None = None) -> str:
        return ""

    properties = inputs_of(predict)["properties"]
    assert properties["p"]["format"] == "uri" and properties["f"]["format"] == "uri"
    assert properties["s"]["format"] == "password"
    assert properties["s"]["writeOnly"] is True and properties["s"]["x-cog-secret"] is True
    assert properties["words"]["items"] == {"type": "string"}
    assert properties["files"]["items"] == {"type": "string", "format": "uri"}
    assert properties["maybe"]["items"] == {"type": "integer"}
    assert properties["maybe"]["nullable"] is True


def test_the_parameters_say_how_to_convert_each_input():
    def predict(p: Path, s: Secret, files: list[Path], n: int = Input(default=1),
                m: int = 2) -> str:
        return ""

    _, parameters = describe(predict)
    kinds = {p.name: (p.kind, p.item.kind if p.item else None, p.declared_default)
             for p in parameters}
    assert kinds == {"p": ("path", None, False), "s": ("secret", None, False),
                     "files": ("list", "path", False), "n": ("value", None, True),
                     "m": ("value", None, False)}


class Structured(BaseModel):
    text: str
    score: float | None
    image: Path


@pytest.mark.parametrize(("annotation", "expected"), [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (Path, {"type": "string", "format": "uri"}),
    (list[Path], {"type": "array", "items": {"type": "string", "format": "uri"}}),
    (dict, {"type": "object"}),
    (Any, {}),
    (Iterator[str], {"type": "array", "items": {"type": "string"},
                     "x-cog-array-type": "iterator"}),
    (AsyncIterator[Path], {"type": "array", "items": {"type": "string", "format": "uri"},
                           "x-cog-array-type": "iterator"}),
    (ConcatenateIterator[str], {"type": "array", "items": {"type": "string"},
                                "x-cog-array-type": "iterator",
                                "x-cog-array-display": "concatenate"}),
    (AsyncConcatenateIterator[str], {"type": "array", "items": {"type": "string"},
                                     "x-cog-array-type": "iterator",
                                     "x-cog-array-display": "concatenate"}),
    (Structured, {"type": "object", "required": ["text", "image"], "properties": {
        "text": {"title": "Text", "type": "string"},
        "score": {"title": "Score", "type": "number", "nullable": True},
        "image": {"title": "Image", "type": "string", "format": "uri"}}}),
])
def test_output_schemas(annotation, expected):
    def predict() -> str:
        return ""

    predict.__annotations__["return"] = annotation
    assert output_of(predict) == {"title": "Output", **expected}
    schema, _ = describe(predict)
    assert is_iterator_output(schema) == ("x-cog-array-type" in expected)


def test_an_unannotated_or_unsupported_input_is_refused_clearly():
    def unannotated(x) -> str:
        return ""

    def unsupported(x: complex) -> str:
        return ""

    with pytest.raises(SignatureError, match="input 'x' has no type annotation"):
        describe(unannotated)
    with pytest.raises(SignatureError, match="input 'x': the type <class 'complex'>"):
        describe(unsupported)


@pytest.mark.parametrize(("annotation", "message"), [
    (str | Path, "unsupported union member Path in union"),
    (int | Secret, "unsupported union member Secret in union"),
    (str | list[Path], "unsupported union member"),
    (str | Literal["a"], "unsupported union member"),
    (list[Optional[int]], "a list of typing.Optional\\[int\\] is not supported"),  # noqa: UP045
    (list[list[int]], "a list of list\\[int\\] is not supported"),
])
def test_what_cog_refuses_is_refused_when_the_predictor_loads(annotation, message):
    def predict(x: str) -> str:
        return ""

    predict.__annotations__["x"] = annotation
    with pytest.raises(SignatureError, match=f"input 'x': {message}"):
        describe(predict)


def test_replicasts_own_opaque_marks_any_object():
    def predict(one: Annotated[Custom, Opaque],
                many: Annotated[list[Custom], Opaque]) -> Annotated[Custom, Opaque]:
        return Custom()

    properties = inputs_of(predict)["properties"]
    assert properties["one"]["type"] == "object"
    assert properties["many"]["items"] == {"type": "object"}
    assert output_of(predict) == {"title": "Output", "type": "object"}
    _, parameters = describe(predict)
    assert {p.kind for p in parameters} == {"value"}


class Custom:
    """A class of the author's own, passed as an opaque object."""


def test_entry_point_is_the_method_the_author_wrote():
    class Runs(BaseRunner):
        def run(self) -> str:
            return "run"

    class Predicts(BasePredictor):
        def predict(self) -> str:
            return "predict"

    class Both(BaseRunner):
        def run(self) -> str:
            return ""

        def predict(self) -> str:
            return ""

    class Neither(BasePredictor):
        pass

    def function() -> str:
        return "function"

    assert entry_point(Runs())() == "run"
    assert entry_point(Predicts())() == "predict"
    assert entry_point(function)() == "function"
    with pytest.raises(SignatureError, match="either run\\(\\) or predict\\(\\), not both"):
        entry_point(Both())
    with pytest.raises(SignatureError, match="neither run\\(\\) nor predict\\(\\)"):
        entry_point(Neither())
