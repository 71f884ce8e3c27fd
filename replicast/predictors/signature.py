"""A predictor's inputs and output, read from its signature, in Cog's schema shape.

Works on classes written against the ``cog`` package or against ``replicast``: both
``Input()``s return an object with the same attributes, and types are recognised by
what they are (a ``pathlib.Path`` subclass, an ``io.IOBase`` one, a class named
``Secret``, ``ConcatenateIterator``, Cog's ``Opaque`` marker...), not by where they
come from.

The schema is the one Cog 0.23 publishes for the same signature: its type of each
input (``dict``, a ``TypedDict`` and ``Annotated[T, Opaque]`` are any JSON object; a
union of JSON types is an ``anyOf``), and its rules for what is required, nullable
and has a default (an Optional without a default is neither required nor given a
default; ``default=None`` on a type that is not Optional is no default, except on a
``Secret``, which it makes optional).
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import inspect
import io
import pathlib
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

from replicast.models.schema import NO_DEFAULT, REQUIRED, InputField, cog_openapi
from replicast.predictors.unions import UnionMember

SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
_LISTS = (list, collections.abc.Sequence)


class SignatureError(TypeError):
    """A predictor's signature cannot be served; the message says why."""


@dataclass(frozen=True)
class Parameter:
    """How to turn one JSON input into the argument the predictor expects."""

    name: str
    kind: str
    """``value``, ``float``, ``path``, ``file``, ``secret``, ``union``, or ``list`` of
    one of those."""
    cls: Any = None
    """The Path/Secret class the annotation names (cog's or ours)."""
    item: Parameter | None = None
    declared_default: bool = False
    """When not given, the predictor gets None (not ``Input()``, nor a missing argument):
    declared with ``Input()``, or an Optional without a default."""
    members: tuple[UnionMember, ...] = ()
    """A union's members, in the order the annotation names them."""


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
    given = _defaults_given(function)
    fields: list[InputField] = []
    parameters: list[Parameter] = []
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in hints:
            raise SignatureError(f"input {name!r} has no type annotation")
        field, converter = _input(name, hints[name], parameter.default, name in given)
        fields.append(field)
        parameters.append(converter)
    output = _output(hints.get("return", Any))
    return cog_openapi(fields, output), parameters


def _defaults_given(function: Any) -> frozenset[str]:
    """The inputs whose ``Input(...)`` names a default (``default=`` or a first argument).

    ``Input()`` and ``Input(default=None)`` make the same object, and Cog, which reads
    the source, tells them apart: a ``Secret`` with ``default=None`` is optional, one
    without is required. The source says which; without it, neither names one.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    node = next((n for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    if node is None:
        return frozenset()
    positional = [*node.args.posonlyargs, *node.args.args]
    pairs = [*zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults,
                  strict=True),
             *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]
    return frozenset(
        arg.arg for arg, default in pairs
        if isinstance(default, ast.Call)
        and (default.args or any(k.arg == "default" for k in default.keywords)))


@dataclass(frozen=True)
class _InputType:
    schema: dict[str, Any]
    """Cog's JSON schema of one value (``type``, ``format``, ``items``; or ``anyOf``)."""
    converter: Parameter
    nullable: bool = False
    union: bool = False


def _input(name: str, annotation: Any, default: Any,
           default_given: bool) -> tuple[InputField, Parameter]:
    found = _input_type(name, annotation)
    info = default if _is_field_info(default) else None
    if info is not None:
        value, has_default = info.default, info.default is not None or default_given
    else:
        has_default = default is not inspect.Parameter.empty
        value = default if has_default else None
    # Cog's one exception to "None is no default": an optional credential.
    nullable = found.nullable or (found.converter.kind == "secret" and has_default
                                  and value is None)
    field_default: Any
    if has_default and (value is not None or nullable):
        field_default = value
    elif nullable and not found.union:  # Cog requires a union that has no default
        field_default = NO_DEFAULT
    else:
        field_default = REQUIRED
    schema = found.schema
    choices = getattr(info, "choices", None)
    constraints = ("ge", "le", "min_length", "max_length", "regex")
    if found.union and (choices or any(getattr(info, c, None) is not None for c in constraints)):
        raise SignatureError(f"input {name!r}: a union input takes no choices or constraints")
    if schema.get("enum") and choices is None:
        choices = schema["enum"]
    extra = {k: v for k, v in schema.items() if k in ("writeOnly", "x-cog-secret")}
    accept = getattr(info, "accept", None)
    if accept:
        extra["x-cog-accept"] = accept
    field = InputField(
        name=name,
        type=schema.get("type"),
        any_of=schema.get("anyOf"),
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
    converter = found.converter
    if info is not None or (nullable and default is inspect.Parameter.empty):
        converter = dataclasses.replace(converter, declared_default=True)
    return field, converter


def _input_type(name: str, annotation: Any) -> _InputType:
    """An input's type as Cog reads it: its JSON schema, nullability and converter."""
    where = f"input {name!r}"
    annotation = _strip(annotation)
    if _is_opaque(annotation):
        return _opaque_input(name, typing.get_args(annotation)[0])
    if not _is_union(annotation):
        return _InputType(*_value_type(name, annotation, where))
    args = typing.get_args(annotation)
    members = [_strip(a) for a in args if a is not type(None)]
    nullable = len(members) < len(args)
    if len(members) > 1:
        found = []
        for member in members:
            union_member = _union_member(member)
            if union_member is None:
                raise SignatureError(
                    f"{where}: unsupported union member {getattr(member, '__name__', member)} "
                    f"in union {annotation} (a union takes str, int, float, bool, dict, Any "
                    "and lists of those)")
            found.append(union_member)
        # As Cog writes it: a nullable union's members say nullable too.
        schemas = [{**m.schema(), "nullable": True} if nullable else m.schema() for m in found]
        return _InputType({"anyOf": schemas}, Parameter(name, "union", members=tuple(found)),
                          nullable=nullable, union=True)
    if _is_opaque(members[0]):
        return dataclasses.replace(_opaque_input(name, typing.get_args(members[0])[0]),
                                   nullable=True)
    return _InputType(*_value_type(name, members[0], where), nullable=True)


def _opaque_input(name: str, inner: Any) -> _InputType:
    """``Annotated[inner, Opaque]``: any JSON object, or a list of them, passed as is."""
    inner, nullable = _unwrap_optional(inner)
    schema = {"type": "array", "items": {"type": "object"}} if _is_list(inner) \
        else {"type": "object"}
    return _InputType(schema, Parameter(name, "value"), nullable=nullable)


def _value_type(name: str, annotation: Any, where: str) -> tuple[dict[str, Any], Parameter]:
    """The JSON schema of a (not None) value of ``annotation``, and how to convert it."""
    if _is_list(annotation):
        args = typing.get_args(annotation)
        item = _strip(args[0]) if args else Any
        if _is_opaque(item) or _is_dict_like(item):
            return {"type": "array", "items": {"type": "object"}}, Parameter(name, "value")
        if _is_union(item) or _is_list(item):
            raise SignatureError(f"{where}: a list of {item} is not supported (as in Cog, a "
                                 "list holds values of one plain type)")
        items, converter = _value_type(name, item, where)
        return {"type": "array", "items": items}, Parameter(name, "list", item=converter)
    if annotation is Any or _is_dict_like(annotation):
        return {"type": "object"}, Parameter(name, "value")
    if typing.get_origin(annotation) is typing.Literal:
        values = list(typing.get_args(annotation))
        kinds = {SCALARS.get(type(v)) for v in values}
        if len(kinds) != 1 or None in kinds:
            raise SignatureError(f"{where}: the values of {annotation} must be of one type")
        return {"type": kinds.pop(), "enum": values}, Parameter(name, "value")
    if annotation in SCALARS:
        return {"type": SCALARS[annotation]}, Parameter(
            name, "float" if annotation is float else "value")
    kind, cls = _kind(annotation)
    if kind in ("path", "file"):
        return {"type": "string", "format": "uri"}, Parameter(name, kind, cls)
    if kind == "secret":
        return ({"type": "string", "format": "password", "writeOnly": True,
                 "x-cog-secret": True}, Parameter(name, kind, cls))
    raise SignatureError(f"{where}: the type {annotation!r} is not supported")


def _union_member(annotation: Any) -> UnionMember | None:
    """A union's member as Cog takes it, or None if Cog refuses it there."""
    if _is_opaque(annotation):
        inner = typing.get_args(annotation)[0]
        return None if _is_union(inner) else UnionMember("object", _is_list(inner))
    if _is_list(annotation):
        args = typing.get_args(annotation)
        item = _strip(args[0]) if args else Any
        if _is_opaque(item):
            return UnionMember("object", True)
        member = _union_member(item)
        return None if member is None or member.repeated else UnionMember(member.type, True)
    if annotation is Any or _is_dict_like(annotation):
        return UnionMember("object")
    kind = SCALARS.get(annotation) if isinstance(annotation, type) else None
    return UnionMember(kind) if kind else None


def _strip(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` metadata, unless that marks it Opaque."""
    while typing.get_origin(annotation) is typing.Annotated and not _is_opaque(annotation):
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_opaque(annotation: Any) -> bool:
    """``Annotated[T, Opaque]``: Cog's (or our) marker of a value passed as it is."""
    return typing.get_origin(annotation) is typing.Annotated and any(
        type(meta).__name__ == "_OpaqueMarker" for meta in annotation.__metadata__)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_list(annotation: Any) -> bool:
    return annotation is list or typing.get_origin(annotation) in _LISTS


def _is_dict_like(annotation: Any) -> bool:
    """``dict``, ``dict[...]`` or a ``TypedDict``: for Cog, any JSON object."""
    return typing.get_origin(annotation) is dict or (
        isinstance(annotation, type) and issubclass(annotation, dict))


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


def _is_field_info(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("default", "description", "ge", "le", "choices"))


def _output(annotation: Any) -> dict[str, Any]:
    annotation = _strip(annotation)
    origin = typing.get_origin(annotation) or annotation
    name = getattr(origin, "__name__", "")
    iterators = (collections.abc.Iterator, collections.abc.AsyncIterator,
                 collections.abc.Generator, collections.abc.AsyncGenerator,
                 collections.abc.Iterable)
    if origin in iterators or name in ("ConcatenateIterator", "AsyncConcatenateIterator"):
        args = typing.get_args(annotation)
        schema: dict[str, Any] = {
            "type": "array",
            "items": _output_schema(args[0], where="output") if args else {},
            "x-cog-array-type": "iterator",
        }
        if name in ("ConcatenateIterator", "AsyncConcatenateIterator"):
            schema["x-cog-array-display"] = "concatenate"
        return schema
    return _output_schema(annotation, where="output")


def _output_schema(annotation: Any, *, where: str) -> dict[str, Any]:
    """The JSON schema of one output value of ``annotation``, as Cog writes it."""
    annotation = _strip(annotation)
    if _is_opaque(annotation):
        inner = typing.get_args(annotation)[0]
        return {"type": "array", "items": {"type": "object"}} if _is_list(inner) \
            else {"type": "object"}
    annotation, nullable = _unwrap_optional(annotation)
    if nullable:
        return {**_output_schema(annotation, where=where), "nullable": True}
    if annotation in SCALARS:
        return {"type": SCALARS[annotation]}
    if typing.get_origin(annotation) is typing.Literal:
        values = list(typing.get_args(annotation))
        return {"type": SCALARS[type(values[0])], "enum": values}
    if _is_list(annotation):
        args = typing.get_args(annotation)
        return {"type": "array",
                "items": _output_schema(args[0], where=where) if args else {"type": "object"}}
    if annotation is Any:
        return {}
    kind, _ = _kind(annotation)
    if kind in ("path", "file"):
        return {"type": "string", "format": "uri"}
    if kind == "secret":
        return {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    if _is_dict_like(annotation) and not hasattr(annotation, "__required_keys__"):
        return {"type": "object"}
    if isinstance(annotation, type) and typing.get_type_hints(annotation):
        return _object_schema(annotation, where=where)
    raise SignatureError(f"{where}: the type {annotation!r} is not supported")


def _object_schema(cls: type, *, where: str) -> dict[str, Any]:
    """A structured output: a TypedDict, Cog's BaseModel, a dataclass or pydantic model.

    A field is required unless it is Optional or has a default; a TypedDict's key,
    unless the TypedDict says it is not (``NotRequired``, ``total=False``).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Any] = {}
    required = []
    for name, hint in hints.items():
        if typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            hint = typing.get_args(hint)[0]
        schema = _output_schema(hint, where=f"{where} field {name!r}")
        properties[name] = {"title": name.replace("_", " ").title(), **schema}
        keys: frozenset[str] | None = getattr(cls, "__required_keys__", None)
        if keys is not None:
            if name in keys:
                required.append(name)
        elif not schema.get("nullable") and not _has_default(cls, name):
            required.append(name)
    return {"type": "object", "properties": properties,
            **({"required": required} if required else {})}


def _has_default(cls: type, name: str) -> bool:
    fields = getattr(cls, "__dataclass_fields__", {})
    return name in fields and fields[name].default is not dataclasses.MISSING


def is_iterator_output(schema: dict[str, Any]) -> bool:
    """Whether a model produces its output item by item."""
    output: dict[str, Any] = schema["components"]["schemas"]["Output"]
    return output.get("x-cog-array-type") == "iterator"
