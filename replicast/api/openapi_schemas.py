"""The component schemas of Replicast's OpenAPI document (``replicast.api.openapi``):
predictions, models, versions, files, webhooks, problems, in the shapes of Replicate's own.
"""

from __future__ import annotations

from typing import Any

from replicast.predictions.status import Status
from replicast.webhooks.delivery import ALL_EVENTS

DATE = {"type": "string", "format": "date-time"}
CONTEXT: dict[str, Any] = {
    "type": "object", "maxProperties": 64, "propertyNames": {"maxLength": 256},
    "additionalProperties": {"type": "string", "maxLength": 4096},
    "description": "Strings for the run, as Cog takes them: a predictor reads them as "
                   "current_scope().context. Never shown back.",
}
"""A time, as every time in the API is written."""
_REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": _REF + name}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["detail", "status"],
        "properties": {
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "status": {"type": "integer"},
            "invalid_fields": {"type": "array", "items": {
                "type": "object", "required": ["type", "field", "description"],
                "properties": {"type": {"type": "string"}, "field": {"type": "string"},
                               "description": {"type": "string"}},
            }},
        },
    },
    "PredictionRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["input"],
        "properties": {
            "input": {"type": "object", "description": "The model's input"},
            "webhook": {"type": "string", "description": "HTTPS URL to POST the prediction to"},
            "webhook_completed": {"type": "string", "description": "Legacy completion webhook"},
            "webhook_events_filter": {"type": "array", "items": {"enum": ALL_EVENTS}},
            "stream": {"type": "boolean", "deprecated": True},
            "context": CONTEXT,
        },
    },
    "VersionPredictionRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "input"],
        "properties": {
            "version": {"type": "string",
                        "description": "owner/name, owner/name:version_id or a version id"},
            "input": {"type": "object"},
            "webhook": {"type": "string"},
            "webhook_completed": {"type": "string"},
            "webhook_events_filter": {"type": "array", "items": {"enum": ALL_EVENTS}},
            "stream": {"type": "boolean", "deprecated": True},
            "context": CONTEXT,
        },
    },
    "Prediction": {
        "type": "object",
        "required": ["id", "model", "version", "input", "output", "logs", "data_removed",
                     "error", "source", "status", "created_at", "urls"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-z]{26}$"},
            "model": {"type": "string"},
            "version": {"type": "string"},
            "input": {"type": "object"},
            "output": {},
            "logs": {"type": "string"},
            "error": {"type": ["string", "null"]},
            "status": {"enum": [s.value for s in Status]},
            "source": {"enum": ["api", "web"]},
            "data_removed": {"type": "boolean"},
            "created_at": DATE,
            "started_at": DATE,
            "completed_at": DATE,
            "deadline": DATE,
            "metrics": {"type": "object", "properties": {
                "predict_time": {"type": "number"}, "total_time": {"type": "number"},
                "image_count": {"type": "integer"}}},
            "webhook": {"type": "string"},
            "webhook_events_filter": {"type": "array", "items": {"enum": ALL_EVENTS}},
            "urls": {
                "type": "object",
                "required": ["get", "cancel", "stream", "web"],
                "properties": {k: {"type": "string", "format": "uri"}
                               for k in ("get", "cancel", "stream", "web")},
            },
        },
    },
    "PredictionPage": {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
            "results": {"type": "array", "items": ref("Prediction")},
        },
    },
    "Version": {
        "type": "object",
        "required": ["id", "created_at", "cog_version", "openapi_schema"],
        "properties": {"id": {"type": "string"}, "created_at": DATE,
                       "cog_version": {"type": ["string", "null"]},
                       "openapi_schema": {"type": ["object", "null"]}},
    },
    "VersionPage": {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": {"type": ["string", "null"]},
                       "previous": {"type": ["string", "null"]},
                       "results": {"type": "array", "items": ref("Version")}},
    },
    "Model": {
        "type": "object",
        "required": ["url", "owner", "name", "visibility", "run_count", "latest_version",
                     "is_official"],
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "owner": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "visibility": {"enum": ["public", "private"]},
            "github_url": {"type": ["string", "null"]},
            "paper_url": {"type": ["string", "null"]},
            "license_url": {"type": ["string", "null"]},
            "cover_image_url": {"type": ["string", "null"]},
            "run_count": {"type": "integer"},
            "default_example": {"type": ["object", "null"]},
            "latest_version": {"anyOf": [ref("Version"), {"type": "null"}]},
            "is_official": {"type": "boolean"},
        },
    },
    "ModelPage": {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": {"type": ["string", "null"]},
                       "previous": {"type": ["string", "null"]},
                       "results": {"type": "array", "items": ref("Model")}},
    },
    "Account": {
        "type": "object",
        "required": ["type", "username"],
        "properties": {"type": {"enum": ["user", "organization"]},
                       "username": {"type": "string"}, "name": {"type": "string"}},
    },
    "WebhookSecret": {
        "type": "object", "required": ["key"],
        "properties": {"key": {"type": "string", "pattern": "^whsec_"}},
    },
    "WebhookDeliveries": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "event", "url", "state", "created_at", "attempts"],
            "properties": {
                "id": {"type": "string"},
                "event": {"enum": ALL_EVENTS},
                "url": {"type": "string"},
                "state": {"enum": ["pending", "delivered", "failed"]},
                "created_at": DATE,
                "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "retry_until": {"type": ["string", "null"], "format": "date-time"},
                "attempts": {"type": "array", "items": {
                    "type": "object",
                    "required": ["number", "started_at", "duration_ms", "status_code", "error"],
                    "properties": {
                        "number": {"type": "integer"},
                        "started_at": DATE,
                        "duration_ms": {"type": "number"},
                        "status_code": {"type": ["integer", "null"]},
                        "error": {"type": ["string", "null"]},
                    },
                }},
            },
        }}},
    },
    "File": {
        "type": "object",
        "required": ["id", "urls", "content_type", "size", "checksums", "metadata",
                     "created_at", "expires_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-z]{26}$"},
            "name": {"type": "string"},
            "content_type": {"type": "string"},
            "size": {"type": "integer"},
            "etag": {"type": "string", "description": "The MD5 of the content, in hex"},
            "checksums": {"type": "object", "required": ["sha256", "md5"],
                          "properties": {"sha256": {"type": "string"},
                                         "md5": {"type": "string"}}},
            "metadata": {"type": "object"},
            "created_at": DATE,
            "expires_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "null when REPLICAST_FILE_RETENTION is 0"},
            "urls": {
                "type": "object",
                "required": ["get", "download"],
                "properties": {
                    "get": {"type": "string", "format": "uri",
                            "description": "The file resource; put it into an input"},
                    "download": {"type": "string", "format": "uri",
                                 "description": "Signed URL of the content, no token needed "
                                                "(Replicast)"},
                },
            },
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": {"type": ["string", "null"]},
                       "previous": {"type": ["string", "null"]},
                       "results": {"type": "array", "items": ref("File")}},
    },
    "FileUpload": {
        "type": "object",
        "required": ["content"],
        "properties": {
            "content": {"type": "string", "format": "binary",
                        "description": "The file content (its part's filename and "
                                       "Content-Type are the defaults of the next two)"},
            "filename": {"type": "string", "maxLength": 255,
                         "description": "The filename (at most 255 bytes of UTF-8)"},
            "type": {"type": "string", "default": "application/octet-stream",
                     "description": "The content / MIME type for the file"},
            "metadata": {"type": "object", "default": {},
                         "description": "User-provided metadata associated with the file"},
        },
    },
    "Hardware": {
        "type": "array",
        "items": {"type": "object", "required": ["sku", "name"],
                  "properties": {"sku": {"type": "string"}, "name": {"type": "string"}}},
    },
}
