from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from replicast import app
from replicast.api import openapi, routes
from replicast.web import routes as web

DOCUMENT = openapi.build("http://127.0.0.1:5000")


def _operations(document):
    return {(path, method.upper()): operation
            for path, item in document["paths"].items() for method, operation in item.items()}


def test_the_document_is_valid_openapi():
    validate_spec(DOCUMENT)


def test_the_document_describes_exactly_the_routes_served():
    # The output route once gained a path segment the document did not have.
    # Health, metrics and the web pages are not part of the API it describes.
    operator = {route.path for route in routes.operator_routes()}
    pages = {route.path for route in web.routes()}
    served = {(route.path, method) for route in app.routes()
              for method in route.methods or () if method != "HEAD"
              and route.path not in operator | pages}
    assert set(_operations(DOCUMENT)) == served
    assert not any(path in DOCUMENT["paths"] for path in pages)


def test_stream_events_are_described_one_by_one():
    """Under OpenAPI 3.1 the schema of text/event-stream is the schema of one event."""
    stream = DOCUMENT["paths"]["/v1/streams/{token}"]["get"]["responses"]["200"]
    event = Draft202012Validator(stream["content"]["text/event-stream"]["schema"])
    assert event.is_valid({"event": "output", "id": "1:0", "data": "fuzz"})
    assert event.is_valid({"event": "done", "id": "1:0:end", "data": "{}"})
    assert not event.is_valid("event: output\nid: 1:0\ndata: fuzz\n\n")
    assert not event.is_valid({"event": "progress", "id": "1", "data": ""})


def test_every_api_operation_declares_503_and_507_with_retry_after():
    for (path, _), operation in _operations(DOCUMENT).items():
        if path.startswith(("/v1/", "/replicate/v1/")):
            assert "Retry-After" in operation["responses"]["503"]["headers"], path
            assert "Retry-After" in operation["responses"]["507"]["headers"], path
