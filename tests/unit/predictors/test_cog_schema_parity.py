"""The Input and Output components we publish are the ones Cog 0.23 publishes.

Cog's side is made offline from the installed ``cog`` package's own reading of the
same predictor: ``cog._inspector.create_predictor`` gives each input's ``FieldType``
and the ``OutputType``, whose ``json_type()`` are the JSON types Cog writes. Cog's
command line assembles them into the ``Input`` component (``buildInputSchema`` in its
``pkg/schema/openapi_spec.go``); ``cog_input_component`` below does the same:

- per input, ``x-order``; then an ``allOf`` reference to an enum component named after
  the input for ``choices``, or ``title`` and the field's JSON type;
- nullable: an Optional (or a union with None), or a ``Secret`` whose default is an
  explicit None; a nullable union also marks each member ``nullable``;
- a default given counts (an explicit None too) unless it is None on a type that is
  not nullable; without one, a union, a plain or a list input is required;
- then ``default``, ``nullable``, ``description``, ``minimum``, ``maximum``,
  ``minLength``, ``maxLength``, ``pattern``, ``deprecated``, ``x-cog-accept``.

Cog reads defaults from the source: ``x: T = None`` and ``Input(default=None)`` give
one, a bare ``x: T`` and ``Input()`` none. The Python objects cannot tell ``Input()``
from ``Input(default=None)``, so each row writes its parameters one to a string, and
a parameter names a default if it says ``default=`` (or ``= value`` without
``Input``).

Two rows need more than the Python package: Cog 0.23 refuses ``Literal`` (Replicast
publishes it as the ``choices`` it means, compared with them), and Cog's Python
``OutputType`` knows a TypedDict output only as an object while the schema Cog
publishes lists its keys, those not ``NotRequired`` required (its Go generator's
``resolveModelToSchemaType``): that one is made from Cog's ``FieldType`` of each key.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import textwrap
import typing
from dataclasses import dataclass
from typing import Any

import pytest
from cog import _adt as adt
from cog._inspector import create_predictor
from cog.input import FieldInfo

from replicast.predictors.signature import describe, entry_point

HEADER = '''
from typing import Annotated, Any, Iterator, Literal, Optional, TypedDict, Union
from typing import NotRequired

from cog import (BaseModel, BaseRunner, ConcatenateIterator, File, Input, Opaque, Path,
                 Secret)


class Item(TypedDict):
    name: str
    count: NotRequired[int]
    note: Optional[str]


class Loose(TypedDict, total=False):
    label: str


class Result(BaseModel):
    text: str
    score: Optional[float]
    files: list[Path]
    tags: Optional[list[str]]
'''


@dataclass(frozen=True)
class Row:
    params: tuple[str, ...]
    output: str = "str"
    cog_params: tuple[str, ...] | None = None
    """What Cog is given instead, where it refuses what we take (Literal)."""


INPUTS = {
    "scalars with constraints": Row((
        "plain: str",
        'text: str = Input(description="Some text", min_length=1, max_length=5, '
        'regex="^a")',
        "count: int = Input(default=2, ge=1, le=10)",
        "ratio: float = Input(default=0.5, ge=0, le=1, deprecated=True)",
        "flag: bool = False",
        'word: str = "hi"',
    )),
    "choices of str and int": Row((
        'color: str = Input(default="red", choices=["red", "blue"])',
        'steps: int = Input(choices=[4, 8], description="Steps")',
        'mode: Optional[str] = Input(default=None, choices=["a", "b"])',
    )),
    "Literal as its choices": Row(
        ("level: Literal[1, 2]", 'size: Literal["s", "m"] = "s"'),
        cog_params=("level: int = Input(choices=[1, 2])",
                    'size: str = Input(default="s", choices=["s", "m"])'),
    ),
    "Optional with and without Input": Row((
        "bare: Optional[str]",
        "later: list[int] | None",
        "none: Optional[str] = None",
        'described: Optional[str] = Input(description="d")',
        "explicit: Optional[str] = Input(default=None)",
        'given: str | None = Input(default="x")',
        "numbers: Optional[list[int]] = None",
    )),
    "None default on a plain type": Row((
        "seed: int = Input(default=None)",
        "text: str = None",
        'seeds: list[int] = Input(default=None, description="s")',
    )),
    "Secret": Row((
        "raw: Secret",
        "keys: list[Secret]",
        "api_key: Secret = Input(default=None)",
        'needed: Secret = Input(description="k")',
        "maybe: Optional[Secret] = None",
    )),
    "Path and File": Row((
        "blob: File",
        'image: Path = Input(description="An image", accept="image/*")',
        "maybe_image: Optional[Path] = None",
        'later: Optional[Path] = Input(description="p")',
    )),
    "list of Path": Row((
        "images: list[Path]",
        "maybe_images: Optional[list[Path]] = None",
        'words: list[str] = Input(default=["a", "b"])',
    )),
    "unions": Row((
        "value: str | float",
        "maybe: str | float | None",
        "values: list[int] | list[float]",
        "flag_or_object: bool | dict",
        "one_or_many: str | list[str]",
        "optional: str | float | None = Input(default=None)",
        "spelled: Union[int, str] = 3",
        'described: int | float = Input(default=1, description="n")',
    )),
    "Opaque": Row((
        "payload: Annotated[dict, Opaque]",
        "payloads: Annotated[list[dict], Opaque]",
        "each: list[Annotated[dict, Opaque]]",
        "maybe: Annotated[Optional[dict], Opaque] = None",
        "wrapped: Optional[Annotated[dict, Opaque]] = None",
    )),
    "dict": Row((
        "data: dict",
        "counts: dict[str, int]",
        "rows: list[dict]",
        "anything: Any",
        "maybe: Optional[dict] = None",
    )),
    "TypedDict": Row((
        "item: Item",
        "items: list[Item]",
        "maybe_items: Optional[list[Item]] = None",
    )),
}

OUTPUTS = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "Path": "Path",
    "list of str": "list[str]",
    "list of Path": "list[Path]",
    "Iterator": "Iterator[str]",
    "Iterator of Path": "Iterator[Path]",
    "ConcatenateIterator": "ConcatenateIterator[str]",
    "BaseModel": "Result",
    "TypedDict with NotRequired": "Item",
    "TypedDict not total": "Loose",
    "dict": "dict",
    "Opaque": "Annotated[dict, Opaque]",
    "Opaque list": "Annotated[list[dict], Opaque]",
}


_modules = iter(range(10**6))


def load(tmp_path, params: tuple[str, ...], output: str) -> Any:
    """The module of a Cog predictor with these parameters and output, imported."""
    name = f"cog_parity_{next(_modules)}"
    signature = ", ".join(("self", *params))
    source = HEADER + textwrap.dedent(f'''

        class Predictor(BaseRunner):
            def run({signature}) -> {output}:
                raise NotImplementedError
        ''')
    (tmp_path / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def ours(module: Any) -> dict[str, Any]:
    schema, _ = describe(entry_point(module.Predictor()))
    return dict(schema["components"]["schemas"])


def cogs(module: Any, params: tuple[str, ...]) -> dict[str, Any]:
    """Cog's Input, Output and enum components for the predictor in ``module``."""
    info = create_predictor(module.__name__, "Predictor")
    written = dict(zip(info.inputs, params, strict=True))
    input_schema, enums = cog_input_component(info, module.Predictor.run, written)
    return {"Input": input_schema, "Output": cog_output(info.output, module), **enums}


def cog_input_component(info: adt.PredictorInfo, function: Any,
                        written: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    signature = inspect.signature(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    enums: dict[str, Any] = {}
    for name, field in info.inputs.items():
        ft = field.type
        raw = signature.parameters[name].default
        accept = None
        if raw is inspect.Parameter.empty:
            given, value = False, None
        elif isinstance(raw, FieldInfo):
            given = re.search(r"Input\(.*\bdefault=", written[name]) is not None
            value, accept = field.default, raw.accept
        else:
            given, value = True, field.default
        prop: dict[str, Any] = {"x-order": field.order}
        union = ft.union_variants is not None
        optional = ft.repetition in (adt.Repetition.OPTIONAL, adt.Repetition.OPTIONAL_REPEATED)
        if field.choices:
            enums[name] = {"title": name, "description": "An enumeration.",
                           "enum": list(field.choices),
                           "type": ft.primitive.json_type()["type"]}
            prop["allOf"] = [{"$ref": f"#/components/schemas/{name}"}]
        else:
            prop["title"] = title(name)
            json_type = ft.json_type()
            if union and optional:
                json_type["anyOf"] = [{**v, "nullable": True} for v in json_type["anyOf"]]
            prop.update(json_type)
        nullable = optional or (ft.primitive is adt.PrimitiveType.SECRET
                                and ft.repetition is adt.Repetition.REQUIRED
                                and given and value is None)
        effective = given and not (value is None and not nullable)
        if not effective and (union or ft.repetition in (adt.Repetition.REQUIRED,
                                                         adt.Repetition.REPEATED)):
            required.append(name)
        if effective:
            prop["default"] = value
        if nullable:
            prop["nullable"] = True
        for key, constraint in (("description", field.description), ("minimum", field.ge),
                                ("maximum", field.le), ("minLength", field.min_length),
                                ("maxLength", field.max_length), ("pattern", field.regex),
                                ("x-cog-accept", accept)):
            if constraint is not None:
                prop[key] = constraint
        if field.deprecated:
            prop["deprecated"] = True
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "title": "Input", "properties": properties}
    if required:
        schema["required"] = required
    return schema, enums


def cog_output(output: adt.OutputType, module: Any) -> dict[str, Any]:
    hint = typing.get_type_hints(module.Predictor.run, include_extras=True)["return"]
    if not typing.is_typeddict(hint):
        return output.json_type()
    properties, required = {}, []
    for key, key_type in typing.get_type_hints(hint).items():
        ft = adt.FieldType.from_type(key_type)
        properties[key] = {**ft.json_type(), "title": title(key)}
        if ft.repetition in (adt.Repetition.OPTIONAL, adt.Repetition.OPTIONAL_REPEATED):
            properties[key]["nullable"] = True
        if key in hint.__required_keys__:
            required.append(key)
    schema = {"title": "Output", "type": "object", "properties": properties}
    return {**schema, "required": required} if required else schema


def title(name: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in name.split("_"))


@pytest.mark.parametrize("row", INPUTS.values(), ids=INPUTS.keys())
def test_input_components_are_cogs(tmp_path, row):
    published = ours(load(tmp_path, row.params, "str"))
    cog_params = row.cog_params or row.params
    expected = cogs(load(tmp_path, cog_params, "str"), cog_params)
    assert published["Input"] == expected["Input"]
    for name in expected["Input"]["properties"]:
        assert published.get(name) == expected.get(name)


@pytest.mark.parametrize("output", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_output_components_are_cogs(tmp_path, output):
    module = load(tmp_path, (), output)
    assert ours(module)["Output"] == cogs(module, ())["Output"]


def test_union_members_cog_refuses_are_refused(tmp_path):
    for member in ("Path", "Secret", "list[Path]", "Result"):
        module = load(tmp_path, (f"value: str | {member}",), "str")
        with pytest.raises(ValueError, match="unsupported union member"):
            create_predictor(module.__name__, "Predictor")
        with pytest.raises(TypeError, match="unsupported union member"):
            ours(module)
