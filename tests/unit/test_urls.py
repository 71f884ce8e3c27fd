"""The URL space: the URLs handed out are Replicate's, and every route is named in
``urls``."""

from __future__ import annotations

from starlette.routing import Route

from replicast import app, urls

BASE = "https://replicast.example/root"


def test_the_urls_handed_out_are_replicates():
    assert urls.api_url(BASE, urls.PREDICTION, id="abc") == f"{BASE}/v1/predictions/abc"
    assert urls.api_url(BASE, urls.PREDICTION_CANCEL, id="abc") == \
        f"{BASE}/v1/predictions/abc/cancel"
    assert urls.api_url(BASE, urls.STREAM, token="t") == f"{BASE}/v1/streams/t"
    assert urls.api_url(BASE, urls.FILE, file_id="f") == f"{BASE}/v1/files/f"
    assert urls.api_url(BASE, urls.GATEWAY_HOOK, token="p.m") == \
        f"{BASE}/v1/gateway/hooks/p.m"
    assert urls.page_url(BASE, urls.PREDICTION_PAGE, id="abc") == f"{BASE}/p/abc"
    assert urls.page_url(BASE, urls.MODEL_PAGE, owner="o", name="n") == f"{BASE}/models/o/n"
    assert urls.api_path(urls.MODEL_VERSION, owner="o", name="n", version_id="v") == \
        "/v1/models/o/n/versions/v"


def test_an_api_url_names_the_prefix_asked_for():
    assert urls.api_url(BASE, urls.PREDICTION, prefix="/replicate/v1", id="abc") == \
        f"{BASE}/replicate/v1/predictions/abc"
    assert urls.api_prefix("/replicate/v1/predictions/abc") == "/replicate/v1"
    assert urls.api_prefix("/v1/predictions") == "/v1"
    assert urls.api_prefix("/replicate/v1") == "/v1"  # the prefix alone is no API path
    assert urls.api_prefix("/p/abc") == "/v1"


def test_a_path_under_either_prefix_names_its_route():
    assert urls.api_route("/v1/files/x") == "/files/x"
    assert urls.api_route("/replicate/v1/files/x") == "/files/x"
    assert urls.api_route("/v1") is None
    assert urls.api_route("/files/x") is None
    assert urls.matches(urls.MODEL_PREDICTIONS, "/models/o/n/predictions")
    assert not urls.matches(urls.MODEL_PREDICTIONS, "/models/o/n/x/predictions")
    assert not urls.matches(urls.FILE, "/files/")
    assert urls.head(urls.OUTPUT) == "/outputs/"


def test_every_route_is_named_in_urls():
    named = {value for name, value in vars(urls).items()
             if name.isupper() and isinstance(value, str)}
    for route in app.routes():
        assert isinstance(route, Route)
        path = urls.images_route(route.path) or urls.api_route(route.path) or route.path
        assert path in named, route.path


def test_images_routes_are_known_under_both_of_their_prefixes():
    assert urls.images_route("/openai/v1/images/edits") == urls.IMAGES_EDITS
    assert urls.images_route("/v1/images/generations") == urls.IMAGES_GENERATIONS
    assert urls.images_route("/replicate/v1/images/generations") is None
    assert urls.images_route("/v1/predictions") is None


def test_a_prediction_defaults_to_the_plain_api_prefix():
    from replicast.predictions.prediction import Prediction

    assert Prediction.__dataclass_fields__["api_prefix"].default == urls.API
