"""The pages' routes beside the API's: none shadows another."""

from __future__ import annotations

from starlette.routing import Match, Route

from replicast import app
from replicast.http.ratelimits import bucket_for
from replicast.urls import API_PREFIXES
from replicast.web import routes as web

TABLE = [route for route in app.routes() if isinstance(route, Route)]
PAGE_PATHS = {route.path for route in web.routes() if isinstance(route, Route)}


def _route(path: str, method: str) -> Route | None:
    """The route the app's router would pick."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    return next((route for route in TABLE if route.matches(scope)[0] is Match.FULL), None)


def test_no_page_is_under_the_api_or_beside_its_other_routes():
    reserved = ("/v1/", "/replicate/v1/", "/outputs/", "/health/", "/metrics", "/openapi.json")
    assert PAGE_PATHS and not any(path.startswith(reserved) for path in PAGE_PATHS)


def test_a_path_reaches_the_route_it_names():
    for method in ("GET", "POST"):
        found = _route("/models/black-forest-labs/flux-schnell", method)
        assert found is not None and found.path == "/models/{owner}/{name}"
    for prefix in API_PREFIXES:
        for path, method in [(f"{prefix}/models/black-forest-labs/flux-schnell", "GET"),
                             (f"{prefix}/models", "GET"),
                             (f"{prefix}/predictions/abc", "GET"),
                             (f"{prefix}/predictions/abc/cancel", "POST")]:
            found = _route(path, method)
            assert found is not None and found.path.startswith(prefix), path
    # Every route, the API's included, is reached by its own path.
    for route in TABLE:
        sample = route.path.replace("{", "").replace("}", "")
        for method in route.methods or ():
            found = _route(sample, method)
            assert found is not None and found.path == route.path, (sample, method)


def test_pages_draw_on_no_rate_limit_bucket():
    for path in PAGE_PATHS:
        for method in ("GET", "POST"):
            assert bucket_for(method, path.replace("{", "").replace("}", "")) is None
