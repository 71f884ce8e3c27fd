"""Every URL path Replicast serves, and the URLs it hands out, built from them.

The route tables, the OpenAPI document, the rate limits and every URL put into a
response, a webhook or a page take their paths from here. A route is written as
Starlette writes it (``/predictions/{id}``); ``api_url`` and ``page_url`` fill in its
names with the values given, as given: a caller quotes what may need it.
"""

from __future__ import annotations

import re

API = "/v1"
API_PREFIXES = (API, "/replicate/v1")
"""Where the API is served: every API route under both, so that the official clients
work with a base URL of the server's root or of ``<root>/replicate``. A prediction's
URLs name the prefix it was asked on (``Prediction.api_prefix``), so that a client
behind a gateway that passes only one of them can follow them; the rest name ``API``."""

# The API's routes, each under both API_PREFIXES.
PREDICTIONS = "/predictions"
PREDICTION = "/predictions/{id}"
PREDICTION_CANCEL = "/predictions/{id}/cancel"
PREDICTION_WEBHOOKS = "/predictions/{id}/webhooks"
DEFAULT_WEBHOOK_SECRET = "/webhooks/default/secret"
MODELS = "/models"
MODEL = "/models/{owner}/{name}"
MODEL_PREDICTIONS = "/models/{owner}/{name}/predictions"
MODEL_VERSIONS = "/models/{owner}/{name}/versions"
MODEL_VERSION = "/models/{owner}/{name}/versions/{version_id}"
ACCOUNT = "/account"
HARDWARE = "/hardware"
STREAM = "/streams/{token}"
"""A prediction's event stream (``urls.stream``): its token is the proof, not an API token."""
FILES = "/files"
FILE = "/files/{file_id}"
FILE_DOWNLOAD = "/files/{file_id}/download"
GATEWAY_HOOK = "/gateway/hooks/{token}"
"""An upstream's webhook for a routed prediction (``gateway/hooks.py`` makes the token)."""

# OpenAI's images API, each under both IMAGES_PREFIXES: its SDKs take a base URL of
# ``<root>/v1`` (or ``<root>/openai/v1``) and add ``/images/...``.
IMAGES_PREFIXES = (API, "/openai/v1")
IMAGES_GENERATIONS = "/images/generations"
IMAGES_EDITS = "/images/edits"

# Beside the API, outside its prefixes.
OPENAPI = "/openapi.json"
OUTPUTS = "/outputs"
"""Output files, served by Replicast itself (``outputs/local.py``)."""
OUTPUT = OUTPUTS + "/{proof}/{prediction_id}/{folder}/{name}"
"""An output file's signed URL: ``proof`` is ``<expires>.<signature>`` (``outputs/signing.py``)."""
HEALTH_LIVE = "/health/live"
HEALTH_READY = "/health/ready"
METRICS = "/metrics"

# The web pages: none under the API's prefixes.
HOME = "/"
LOGIN = "/login"
LOGOUT = "/logout"
MODEL_PAGE = "/models/{owner}/{name}"
"""A model's form; also the ``url`` of a model in the API's answers."""
PREDICTION_PAGE = "/p/{id}"
"""A prediction's page (``urls.web``)."""
PREDICTION_PAGE_JSON = "/p/{id}/json"
PREDICTION_PAGE_CANCEL = "/p/{id}/cancel"
STATIC = "/static/{name}"


def api_path(route: str, *, prefix: str = API, **names: str) -> str:
    """The path of an API ``route`` under ``prefix`` (one of ``API_PREFIXES``), its
    names filled in."""
    return prefix + route.format(**names)


def api_url(base_url: str, route: str, *, prefix: str = API, **names: str) -> str:
    """The absolute URL of an API ``route`` on the server at ``base_url``."""
    return base_url + api_path(route, prefix=prefix, **names)


def page_url(base_url: str, route: str, **names: str) -> str:
    """The URL of a ``route`` outside the API (a page, an output file) on the server at
    ``base_url``; with the ``root_path`` as ``base_url``, a link within the site."""
    return base_url + route.format(**names)


def head(route: str) -> str:
    """What every path of ``route`` starts with: the route up to its first name."""
    return route.partition("{")[0]


def api_route(path: str) -> str | None:
    """``path`` without the API prefix it is under (``/replicate/v1/files/x`` →
    ``/files/x``); None for a path outside the API."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return None


def api_prefix(path: str) -> str:
    """Which of ``API_PREFIXES`` ``path`` (without any ``root_path``) is under; ``API``
    for a path outside them."""
    return next((prefix for prefix in API_PREFIXES if path.startswith(prefix + "/")), API)


def images_route(path: str) -> str | None:
    """``path`` without the prefix it is under if it is a route of OpenAI's images API
    (``/openai/v1/images/edits`` → ``/images/edits``); None for any other path."""
    for prefix in IMAGES_PREFIXES:
        route = path[len(prefix):]
        if path.startswith(prefix + "/") and route in (IMAGES_GENERATIONS, IMAGES_EDITS):
            return route
    return None


def matches(route: str, path: str) -> bool:
    """Whether ``path`` is a path of ``route``, each name standing for one segment."""
    literal = (re.escape(part) for part in re.split(r"\{[^}]*\}", route))
    return re.fullmatch("[^/]+".join(literal), path) is not None
