"""The API's route table. Every API route is served under ``/v1`` and ``/replicate/v1``;
``app.py`` mounts the web pages (``replicast.web``) beside them, outside both."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from replicast.api import (
    account,
    files,
    gateway,
    models,
    openapi,
    operations,
    outputs,
    predictions,
    stream,
    webhooks,
)
from replicast.paths import API_PREFIXES

__all__ = ["API_PREFIXES", "operator_routes", "routes"]

# (path under the prefix, methods, endpoint)
API = [
    ("/predictions", ["POST"], predictions.create),
    ("/predictions", ["GET"], predictions.list_),
    ("/predictions/{id}", ["GET"], predictions.get),
    ("/predictions/{id}/cancel", ["POST"], predictions.cancel),
    ("/predictions/{id}/webhooks", ["GET"], webhooks.prediction_deliveries),
    ("/webhooks/default/secret", ["GET"], webhooks.default_secret),
    ("/models", ["GET"], models.list_models),
    ("/models/{owner}/{name}", ["GET"], models.get_model),
    ("/models/{owner}/{name}/predictions", ["POST"], predictions.create_for_model),
    ("/models/{owner}/{name}/versions", ["GET"], models.list_versions),
    ("/models/{owner}/{name}/versions/{version_id}", ["GET"], models.get_version),
    ("/account", ["GET"], account.get_account),
    ("/hardware", ["GET"], account.list_hardware),
    ("/streams/{token}", ["GET"], stream.stream),
    ("/files", ["POST"], files.create),
    ("/files", ["GET"], files.list_),
    ("/files/{file_id}", ["GET"], files.get),
    ("/files/{file_id}", ["DELETE"], files.delete),
    ("/files/{file_id}/download", ["GET"], files.download),
    ("/gateway/hooks/{token}", ["POST"], gateway.hook),
]


def routes() -> list[BaseRoute]:
    """Every route of the API, health and metrics included."""
    table: list[BaseRoute] = [
        Route(f"{prefix}{path}", endpoint, methods=methods)
        for prefix in API_PREFIXES
        for path, methods, endpoint in API
    ]
    table += [
        Route("/openapi.json", openapi.document, methods=["GET"]),
        Route("/outputs/{proof}/{prediction_id}/{folder}/{name}", outputs.output_file,
              methods=["GET"]),
        *operator_routes(),
    ]
    return table


def operator_routes() -> list[BaseRoute]:
    """Health and metrics: every process serves these, a worker nothing else."""
    return [
        Route("/health/live", operations.live, methods=["GET"]),
        Route("/health/ready", operations.ready, methods=["GET"]),
        Route("/metrics", operations.metrics, methods=["GET"]),
    ]
