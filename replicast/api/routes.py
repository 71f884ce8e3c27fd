"""The API's route table. Every API route is served under ``/v1`` and ``/replicate/v1``;
``app.py`` mounts the web pages (``replicast.web``) beside them, outside both."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from replicast import urls
from replicast.api import (
    account,
    files,
    gateway,
    images,
    models,
    openapi,
    operations,
    outputs,
    predictions,
    stream,
    webhooks,
)

# (path under the prefix, methods, endpoint). Starlette tries routes in order, a pattern
# match each, and no two paths overlap: the creates, the busiest, come first.
API = [
    (urls.MODEL_PREDICTIONS, ["POST"], predictions.create_for_model),
    (urls.PREDICTIONS, ["POST"], predictions.create),
    (urls.PREDICTIONS, ["GET"], predictions.list_),
    (urls.PREDICTION, ["GET"], predictions.get),
    (urls.PREDICTION_CANCEL, ["POST"], predictions.cancel),
    (urls.PREDICTION_WEBHOOKS, ["GET"], webhooks.prediction_deliveries),
    (urls.DEFAULT_WEBHOOK_SECRET, ["GET"], webhooks.default_secret),
    (urls.MODELS, ["GET"], models.list_models),
    (urls.MODEL, ["GET"], models.get_model),
    (urls.MODEL_VERSIONS, ["GET"], models.list_versions),
    (urls.MODEL_VERSION, ["GET"], models.get_version),
    (urls.ACCOUNT, ["GET"], account.get_account),
    (urls.HARDWARE, ["GET"], account.list_hardware),
    (urls.STREAM, ["GET"], stream.stream),
    (urls.FILES, ["POST"], files.create),
    (urls.FILES, ["GET"], files.list_),
    (urls.FILE, ["GET"], files.get),
    (urls.FILE, ["DELETE"], files.delete),
    (urls.FILE_DOWNLOAD, ["GET"], files.download),
    (urls.GATEWAY_HOOK, ["POST"], gateway.hook),
]

# OpenAI's images API, under each of urls.IMAGES_PREFIXES: (path, endpoint), POST only.
IMAGES = [
    (urls.IMAGES_GENERATIONS, images.generations),
    (urls.IMAGES_EDITS, images.edits),
]


def routes() -> list[BaseRoute]:
    """Every route of the API, health and metrics included."""
    table: list[BaseRoute] = [
        Route(f"{prefix}{path}", endpoint, methods=methods)
        for prefix in urls.API_PREFIXES
        for path, methods, endpoint in API
    ]
    table += [
        Route(f"{prefix}{path}", endpoint, methods=["POST"])
        for prefix in urls.IMAGES_PREFIXES
        for path, endpoint in IMAGES
    ]
    table += [
        Route(urls.OPENAPI, openapi.document, methods=["GET"]),
        Route(urls.OUTPUT, outputs.output_file, methods=["GET"]),
        *operator_routes(),
    ]
    return table


def operator_routes() -> list[BaseRoute]:
    """Health and metrics: every process serves these, a worker nothing else."""
    return [
        Route(urls.HEALTH_LIVE, operations.live, methods=["GET"]),
        Route(urls.HEALTH_READY, operations.ready, methods=["GET"]),
        Route(urls.METRICS, operations.metrics, methods=["GET"]),
    ]
