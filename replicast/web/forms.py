"""A model's input form: fields from its OpenAPI input schema, and typed input from the
values a browser posts.

The schema is the one ``GET /v1/models/{owner}/{name}`` returns as
``latest_version.openapi_schema``: Cog's ``Input`` component, properties ordered by
``x-order`` (those without one after, shortest name first, as Replicate lists them),
choices either inline (``enum``) or in a component referenced through ``allOf``. Each
property becomes one widget:

- choices: a select;
- a boolean: a checkbox (always shown, so an unchecked box means false);
- a number or an integer with both bounds: a slider beside a number field;
- other numbers and integers: a number field;
- a ``format: uri`` string: a URL field and a file upload;
- an array of ``format: uri`` strings: URLs one a line, and a file upload taking several;
- a secret: a password field; any other string: a text area;
- anything else (arrays, objects): JSON in a text area.

Posted values become the input the API would have been sent: numbers and integers
parsed, booleans from the checkboxes, empty optional fields left out (so that the
model's defaults apply). What cannot be parsed is reported as an ``InvalidField`` on
``input.<name>``, as the API reports what fails the schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from replicast.errors import InvalidField, InvalidRequest
from replicast.http.body import keepable
from replicast.models.schema_refs import input_properties, required_inputs

SELECT = "select"
CHECKBOX = "checkbox"
RANGE = "range"
NUMBER = "number"
URI = "uri"
URIS = "uris"
SECRET = "secret"
TEXT = "text"
JSON = "json"

UPLOAD_PREFIX = "upload:"
"""Form name of a ``format: uri`` field's file upload: this, then the input's name."""
LIST_UPLOADS = 10
"""Files one list of files may be given in a form, where its schema sets no ``maxItems``."""


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a model, as the form shows it."""

    name: str
    label: str
    widget: str
    type: str
    """The JSON type the input takes: string, integer, number, boolean, array, object."""
    required: bool
    description: str | None = None
    default: Any = None
    has_default: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    max_items: int | None = None

    @property
    def uploads(self) -> int:
        """How many files the field's upload may take."""
        if self.widget == URIS:
            return self.max_items if self.max_items is not None else LIST_UPLOADS
        return 1 if self.widget == URI else 0

    @property
    def step(self) -> str:
        """The ``step`` of the field's number input."""
        return "1" if self.type == "integer" else "any"

    @property
    def slider_step(self) -> str:
        """The slider's step: whole numbers for integers, about a hundredth of the range
        (rounded to a power of ten) for numbers."""
        if self.type == "integer" or self.minimum is None or self.maximum is None:
            return "1"
        span = self.maximum - self.minimum
        if span <= 0:
            return "1"
        return number_text(10.0 ** math.floor(math.log10(span) - 2))

    @property
    def accepts_images(self) -> bool:
        """Whether a file field is for an image (to narrow the browser's file picker)."""
        return "image" in self.name

    def display(self, value: Any) -> str:
        """A value as the form's field shows it."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return number_text(value)
        if isinstance(value, str):
            return value
        if self.widget == URIS and isinstance(value, list):
            return "\n".join(str(item) for item in value)
        if self.widget == JSON:
            return orjson.dumps(value).decode()
        return str(value)


def number_text(value: float) -> str:
    """A float without a needless ``.0`` or exponent: ``0.8``, ``3``, ``0.01``."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return format(value, "f").rstrip("0").rstrip(".") if abs(value) >= 1e-6 else repr(value)


def fields_of(openapi_schema: Mapping[str, Any]) -> list[Field]:
    """The form's fields for a model version's ``openapi_schema``, in ``x-order``."""
    properties, required = input_properties(openapi_schema), required_inputs(openapi_schema)
    ordered = sorted(properties.items(),
                     key=lambda item: (item[1].get("x-order", math.inf), len(item[0]),
                                       item[0]))
    return [_field(name, prop, name in required) for name, prop in ordered]


def _field(name: str, prop: Mapping[str, Any], required: bool) -> Field:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = kind if isinstance(kind, str) else "string"
    minimum, maximum = _bound(prop.get("minimum")), _bound(prop.get("maximum"))
    choices = tuple(c for c in prop.get("enum") or () if c is not None)
    if choices:
        widget = SELECT
    elif kind == "boolean":
        widget = CHECKBOX
    elif kind in ("integer", "number"):
        widget = RANGE if minimum is not None and maximum is not None else NUMBER
    elif kind == "string" and prop.get("format") == "uri":
        widget = URI
    elif kind == "array" and _is_uri(prop.get("items")):
        widget = URIS
    elif kind == "string":
        widget = SECRET if prop.get("x-cog-secret") else TEXT
    else:
        widget = JSON
    return Field(
        name=name, label=str(prop.get("title") or name.replace("_", " ").title()),
        widget=widget, type=kind, required=required,
        description=prop.get("description"), default=prop.get("default"),
        has_default="default" in prop, minimum=minimum, maximum=maximum, choices=choices,
        nullable=bool(prop.get("nullable")),
        max_items=prop.get("maxItems") if isinstance(prop.get("maxItems"), int) else None,
    )


def _is_uri(items: Any) -> bool:
    return isinstance(items, dict) and items.get("type") == "string" \
        and items.get("format") == "uri"


def _bound(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def initial_values(fields: list[Field]) -> dict[str, str]:
    """What a fresh form shows: each field's default."""
    return {f.name: f.display(f.default) for f in fields if f.has_default}


def to_input(fields: list[Field], values: Mapping[str, str]
             ) -> tuple[dict[str, Any], list[InvalidField]]:
    """The prediction input for posted form ``values``, and what could not be read."""
    result: dict[str, Any] = {}
    problems: list[InvalidField] = []
    for f in fields:
        raw = values.get(f.name)
        if f.widget == CHECKBOX:
            result[f.name] = raw is not None and raw.lower() in ("on", "true", "1", "yes")
            continue
        if raw is None or not raw.strip():
            continue  # left empty: the model's default applies, or "required" is reported
        try:
            result[f.name] = _parse(f, raw)
        except ValueError as exc:
            problems.append(InvalidField("invalid_type", f"input.{f.name}", str(exc)))
    return result, problems


def _parse(f: Field, raw: str) -> Any:
    text = raw.strip()
    if f.widget == SELECT:
        return next((c for c in f.choices if str(c) == text), text)
    if f.type == "integer" and f.widget in (RANGE, NUMBER):
        return _integer(text)
    if f.type == "number" and f.widget in (RANGE, NUMBER):
        return _number(text)
    if f.widget == JSON:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError("Enter valid JSON") from None
        try:  # the rules of a JSON body: a value the store can keep as sent
            return keepable(value, text)
        except InvalidRequest as exc:
            raise ValueError("; ".join(f.description for f in exc.fields)
                             or str(exc)) from None
    if f.widget == URI:
        return text
    if f.widget == URIS:
        return [line.strip() for line in text.splitlines() if line.strip()]
    return raw


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    number = _number(text, "Enter a whole number")
    if not number.is_integer():
        raise ValueError("Enter a whole number")
    return int(number)


def _number(text: str, message: str = "Enter a number") -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(message) from None
    if not math.isfinite(number):
        raise ValueError(message)
    return number
