"""Model schemas in Cog's shape: an OpenAPI document with Input and Output components.

Replicate publishes each version's ``openapi_schema`` as Cog generates it: inputs are
properties of ``components.schemas.Input`` ordered by ``x-order``; a choice-limited
input becomes its own enum component referenced through ``allOf``; ``Output``
describes the result (``x-cog-array-type: iterator`` marks outputs that are
produced item by item).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final


class _Default(Enum):
    REQUIRED = "required"
    NONE = "none"


REQUIRED: Final = _Default.REQUIRED
"""Default of an input that the caller must give."""
NO_DEFAULT: Final = _Default.NONE
"""Default of an optional input that has no default value."""

COG_OPENAPI_VERSION = "3.0.2"


@dataclass(frozen=True, slots=True)
class InputField:
    """One model input, with the constraints Cog's ``Input(...)`` can express."""

    name: str
    type: str | None
    """JSON type: string, integer, number, boolean, array or object; None for a union."""
    description: str | None = None
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: Sequence[str | int] | None = None
    format: str | None = None
    nullable: bool = False
    deprecated: bool = False
    items: dict[str, Any] | None = None
    min_items: int | None = None
    max_items: int | None = None
    secret: bool = False
    """A Cog ``Secret``: a password-format string, shown masked and never stored."""
    ordered: bool = True
    """Whether the property carries ``x-order`` (its place in the list). Cog built with
    recent pydantic writes it on choice inputs only, and Replicate publishes some
    models so; their other inputs are then shown after the ordered ones."""
    inline_enum: bool = False
    """Put ``enum`` on the property itself instead of an allOf-referenced component."""
    extra: Mapping[str, Any] | None = None
    """More keys for the property, as Cog writes them (``x-cog-secret``, ``x-cog-accept``)."""
    any_of: Sequence[Mapping[str, Any]] | None = None
    """A union's member schemas (Cog's ``anyOf`` for ``str | float``), in place of ``type``."""

    @property
    def required(self) -> bool:
        """Whether the caller must give this input."""
        return self.default is REQUIRED

    @property
    def title(self) -> str:
        """Cog's title: the name in title case."""
        return self.name.replace("_", " ").title()


def input_component(fields: Sequence[InputField]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``Input`` schema and the enum components it references."""
    properties: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    for order, f in enumerate(fields):
        prop: dict[str, Any] = {}
        if f.choices is not None and not f.inline_enum:
            enums[f.name] = {
                "enum": list(f.choices),
                "type": f.type,
                "title": f.name,
                "description": "An enumeration.",
            }
            prop["allOf"] = [{"$ref": f"#/components/schemas/{f.name}"}]
        else:
            if f.any_of is not None:
                prop["anyOf"] = [dict(member) for member in f.any_of]
            else:
                prop["type"] = f.type
            prop["title"] = f.title
            if f.choices is not None:
                prop["enum"] = list(f.choices)
        if f.format is not None:
            prop["format"] = f.format
        if f.secret:
            prop.update({"format": "password", "writeOnly": True, "x-cog-secret": True})
        if f.items is not None:
            prop["items"] = f.items
        if not isinstance(f.default, _Default):
            prop["default"] = f.default
        for key, value in (
            ("minimum", f.minimum),
            ("maximum", f.maximum),
            ("minLength", f.min_length),
            ("maxLength", f.max_length),
            ("pattern", f.pattern),
            ("minItems", f.min_items),
            ("maxItems", f.max_items),
        ):
            if value is not None:
                prop[key] = value
        if f.nullable:
            prop["nullable"] = True
        if f.deprecated:
            prop["deprecated"] = True
        if f.extra:
            prop.update(f.extra)
        if f.ordered:
            prop["x-order"] = order
        if f.description is not None:
            prop["description"] = f.description
        properties[f.name] = prop
    schema: dict[str, Any] = {"type": "object", "title": "Input", "properties": properties}
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema, enums


def cog_openapi(fields: Sequence[InputField], output: dict[str, Any]) -> dict[str, Any]:
    """A model version's ``openapi_schema`` document."""
    input_schema, enums = input_component(fields)
    return {
        "openapi": COG_OPENAPI_VERSION,
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {
            "/predictions": {
                "post": {
                    "summary": "Predict",
                    "operationId": "predict_predictions_post",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictionRequest"}
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "Successful Response",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/PredictionResponse"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Input": input_schema,
                "Output": {"title": "Output", **output},
                **enums,
                "Status": {
                    "title": "Status",
                    "description": "An enumeration.",
                    "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
                    "type": "string",
                },
                "WebhookEvent": {
                    "title": "WebhookEvent",
                    "description": "An enumeration.",
                    "enum": ["start", "output", "logs", "completed"],
                    "type": "string",
                },
                "PredictionRequest": {
                    "title": "PredictionRequest",
                    "type": "object",
                    "properties": {
                        "id": {"title": "Id", "type": "string"},
                        "input": {"$ref": "#/components/schemas/Input"},
                        "webhook": {"title": "Webhook", "type": "string", "format": "uri"},
                        "webhook_events_filter": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/WebhookEvent"},
                            "default": ["start", "output", "logs", "completed"],
                        },
                    },
                },
                "PredictionResponse": {
                    "title": "PredictionResponse",
                    "type": "object",
                    "properties": {
                        "id": {"title": "Id", "type": "string"},
                        "input": {"$ref": "#/components/schemas/Input"},
                        "output": {"$ref": "#/components/schemas/Output"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "error": {"title": "Error", "type": "string"},
                        "logs": {"title": "Logs", "type": "string", "default": ""},
                        "metrics": {"title": "Metrics", "type": "object"},
                        "created_at": _date_time("Created At"),
                        "started_at": _date_time("Started At"),
                        "completed_at": _date_time("Completed At"),
                    },
                },
            }
        },
    }


def _date_time(title: str) -> dict[str, Any]:
    return {"title": title, "type": "string", "format": "date-time"}


def file_output() -> dict[str, Any]:
    """Output schema of one file."""
    return {"type": "string", "format": "uri"}


def file_list_output() -> dict[str, Any]:
    """Output schema of a list of files (Cog's ``List[Path]``)."""
    return {"type": "array", "items": {"type": "string", "format": "uri"}}


def text_iterator_output() -> dict[str, Any]:
    """Output schema of text produced token by token (Cog's ``ConcatenateIterator[str]``)."""
    return {
        "type": "array",
        "items": {"type": "string"},
        "x-cog-array-type": "iterator",
        "x-cog-array-display": "concatenate",
    }
