"""A predictor's inputs and output, read from its signature, in Cog's schema shape.

Works on classes written against the ``cog`` package or against ``replicast``: both
``Input()``s return an object with the same attributes, and types are recognised by
what they are (a ``pathlib.Path`` subclass, an ``io.IOBase`` one, a class named
``Secret``, ``ConcatenateIterator``...), not by where they come from.
"""

from __future__ import annotations

import collections.abc
import inspect
import io
import pathlib
import types
import typing
from dataclasses import dataclass
from typing import Any

from replicast.models.schema import NO_DEFAULT, REQUIRED, InputField, cog_openapi

SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


class SignatureError(TypeError):
    """A predictor's signature cannot be served; the message says why."""


@dataclass(frozen=True)
class Parameter:
    """How to turn one JSON input into the argument the predictor expects."""

    name: str
    kind: str
    """``value``, ``float``, ``path``, ``file``, ``secret``, or ``list`` of one of those."""
    cls: Any = None
    """The Path/Secret class the annotation names (cog's or ours)."""
    item: Parameter | None = None
    declared_default: bool = False
    """Declared with ``Input()``: when not given, the predictor gets None, not ``Input()``."""


def entry_point(predictor: Any) -> Any:
    """The callable that runs a prediction: the ``run`` or ``predict`` the author wrote,
    or the function itself."""
    if inspect.isfunction(predictor) or inspect.iscoroutinefunction(predictor):
        return predictor
    cls = type(predictor)
    defined = [name for name in ("run", "predict") if _user_method_owner(cls, name)]
    if len(defined) == 2:
        raise SignatureError(f"{cls.__name__} must define either run() or predict(), not both")
    if not defined:
        raise SignatureError(f"{cls.__name__} defines neither run() nor predict()")
    return getattr(predictor, defined[0])


def _user_method_owner(cls: type, name: str) -> type | None:
    """The class that defines method ``name``, stopping at the framework's base classes."""
    for owner in inspect.getmro(cls):
        if owner is object or (owner.__name__ in ("BaseRunner", "BasePredictor") and \
                owner.__module__.split(".")[0] in ("cog", "coglet", "replicast")):
            return None
        if callable(owner.__dict__.get(name)):
            return owner
    return None


def describe(function: Any) -> tuple[dict[str, Any], list[Parameter]]:
    """The model's ``openapi_schema`` and how to convert each input."""
    hints = typing.get_type_hints(function, include_extras=True)
    fields: list[InputField] = []
    parameters: list[Parameter] = []
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in hints:
            raise SignatureError(f"input {name!r} has no type annotation")
        field, converter = _input(name, hints[name], parameter.default)
        fields.append(field)
        parameters.append(converter)
    output = _output(hints.get("return", Any))
    return cog_openapi(fields, output), parameters


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2:
            return members[0], True
    return annotation, False


def _kind(annotation: Any) -> tuple[str, Any]:
    if isinstance(annotation, type):
        if issubclass(annotation, pathlib.PurePath):
            return "path", annotation
        if issubclass(annotation, io.IOBase):
            return "file", annotation
        if annotation.__name__ == "Secret":
            return "secret", annotation
    return "value", None


def _json_schema(annotation: Any, *, where: str) -> dict[str, Any]:
    """The JSON schema of one value of ``annotation``."""
    annotation, nullable = _unwrap_optional(annotation)
    if nullable:
        return {**_json_schema(annotation, where=where), "nullable": True}
    origin = typing.get_origin(annotation)
    if annotation in SCALARS:
        return {"type": SCALARS[annotation]}
    if origin is typing.Literal:
        values = list(typing.get_args(annotation))
        return {"type": SCALARS[type(values[0])], "enum": values}
    if origin in (list, collections.abc.Sequence) or annotation is list:
        args = typing.get_args(annotation)
        return {"type": "array", "items": _json_schema(args[0], where=where) if args else {}}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if annotation is Any:
        return {}
    kind, _ = _kind(annotation)
    if kind in ("path", "file"):
        return {"type": "string", "format": "uri"}
    if kind == "secret":
        return {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    if isinstance(annotation, type) and typing.get_type_hints(annotation):
        # A structured output (Cog's BaseModel, a dataclass, a pydantic model).
        hints = typing.get_type_hints(annotation)
        properties = {name: {"title": name.replace("_", " ").title(),
                             **_json_schema(hint, where=f"{where} field {name!r}")}
                      for name, hint in hints.items()}
        required = [name for name, hint in hints.items() if not _unwrap_optional(hint)[1]]
        return {"type": "object", "properties": properties,
                **({"required": required} if required else {})}
    raise SignatureError(f"{where}: the type {annotation!r} is not supported")


def _input(name: str, annotation: Any, default: Any) -> tuple[InputField, Parameter]:
    inner, nullable = _unwrap_optional(annotation)
    info = default if _is_field_info(default) else None
    value_default = info.default if info is not None else default
    if value_default is inspect.Parameter.empty or (value_default is None and not nullable):
        field_default: Any = REQUIRED
    elif value_default is None:
        field_default = NO_DEFAULT
    else:
        field_default = value_default
    schema = _json_schema(inner, where=f"input {name!r}")
    extra = {k: v for k, v in schema.items() if k in ("writeOnly", "x-cog-secret")}
    accept = getattr(info, "accept", None)
    if accept:
        extra["x-cog-accept"] = accept
    choices = getattr(info, "choices", None)
    if schema.get("enum") and choices is None:
        choices = schema.pop("enum")
    field = InputField(
        name=name,
        type=schema.get("type", "string"),
        description=getattr(info, "description", None),
        default=field_default,
        minimum=getattr(info, "ge", None),
        maximum=getattr(info, "le", None),
        min_length=getattr(info, "min_length", None),
        max_length=getattr(info, "max_length", None),
        pattern=getattr(info, "regex", None),
        choices=choices,
        format=schema.get("format"),
        nullable=nullable,
        deprecated=bool(getattr(info, "deprecated", None)),
        items=schema.get("items"),
        extra=extra or None,
    )
    converter = _parameter(name, inner)
    if info is not None:
        converter = Parameter(converter.name, converter.kind, converter.cls, converter.item,
                              declared_default=True)
    return field, converter


def _parameter(name: str, annotation: Any) -> Parameter:
    origin = typing.get_origin(annotation)
    if origin in (list, collections.abc.Sequence):
        (item,) = typing.get_args(annotation) or (Any,)
        item, _ = _unwrap_optional(item)
        return Parameter(name, "list", item=_parameter(name, item))
    if annotation is float:
        return Parameter(name, "float")
    kind, cls = _kind(annotation)
    return Parameter(name, kind, cls)


def _is_field_info(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("default", "description", "ge", "le", "choices"))


def _output(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation) or annotation
    name = getattr(origin, "__name__", "")
    iterators = (collections.abc.Iterator, collections.abc.AsyncIterator,
                 collections.abc.Generator, collections.abc.AsyncGenerator,
                 collections.abc.Iterable)
    if origin in iterators or name in ("ConcatenateIterator", "AsyncConcatenateIterator"):
        args = typing.get_args(annotation)
        schema: dict[str, Any] = {
            "type": "array",
            "items": _json_schema(args[0], where="output") if args else {},
            "x-cog-array-type": "iterator",
        }
        if name in ("ConcatenateIterator", "AsyncConcatenateIterator"):
            schema["x-cog-array-display"] = "concatenate"
        return schema
    return _json_schema(annotation, where="output")


def is_iterator_output(schema: dict[str, Any]) -> bool:
    """Whether a model produces its output item by item."""
    output: dict[str, Any] = schema["components"]["schemas"]["Output"]
    return output.get("x-cog-array-type") == "iterator"
