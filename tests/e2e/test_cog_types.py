"""Cog 0.23's union, Opaque, dict, TypedDict and Optional inputs, served by a real server.

The predictors (``tests/predictors/cog_types.py``) are written against the ``cog``
package. Each one's published schema is Cog's, its inputs are validated as Cog
validates them (an explicit null is refused, as JSON Schema knows no ``nullable``),
and predict() gets what Cog would give it; checked with raw HTTP and the official
Python client.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors" / "cog_types.py"
MODELS = {"test/unions": "Unions", "test/opaque": "Opaques", "test/optionals": "Optionals",
          "test/typed-dicts": "TypedDicts"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = []
    for name, cls in MODELS.items():
        args += ["--predictor", f"{PREDICTORS}:{cls}", "--model-name", name]
    process = ServerProcess(tmp_path_factory.mktemp("cog-types"), args=args,
                            env={"REPLICAST_RATE_LIMIT_CREATES": "0",
                                 "REPLICAST_RATE_LIMIT_REQUESTS": "0"}).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server, transport):
    return replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)


def components(http, model: str) -> dict:
    response = http.get(f"/v1/models/{model}")
    assert response.status_code == 200, response.text
    described = response.json()
    assert described["setup"]["error"] is None, described["setup"]
    schemas: dict = described["latest_version"]["openapi_schema"]["components"]["schemas"]
    return schemas


def run(http, model: str, given: dict) -> dict:
    """A prediction made with raw HTTP, waited for."""
    response = http.post(f"/v1/models/{model}/predictions", json={"input": given},
                         headers={"Prefer": "wait=30"})
    assert response.status_code == 201, response.text
    prediction: dict = response.json()
    assert prediction["status"] == "succeeded", prediction
    return prediction


def refused(http, model: str, given: dict) -> list[dict]:
    """The problems of a create answered 422 (raw HTTP)."""
    response = http.post(f"/v1/models/{model}/predictions", json={"input": given})
    assert response.status_code == 422, response.text
    problems: list[dict] = response.json()["invalid_fields"]
    return problems


def fields(problems: list[dict]) -> set[str]:
    return {problem["field"] for problem in problems}


def client_refuses(client, model: str, given: dict) -> str:
    with pytest.raises(ReplicateError) as caught:
        client.predictions.create(model=model, input=given)
    assert caught.value.status == 422
    return str(caught.value.detail)


# unions


def test_unions_are_published_as_cog_publishes_them(http, client):
    schemas = components(http, "test/unions")
    assert schemas == client.models.get("test/unions").latest_version.openapi_schema[
        "components"]["schemas"]
    inputs = schemas["Input"]
    assert inputs["required"] == ["value", "values", "either"]
    assert inputs["properties"] == {
        "value": {"anyOf": [{"type": "string"}, {"type": "number"}], "title": "Value",
                  "x-order": 0},
        "values": {"anyOf": [{"type": "array", "items": {"type": "integer"}},
                             {"type": "array", "items": {"type": "number"}}],
                   "title": "Values", "x-order": 1},
        "either": {"anyOf": [{"type": "string", "nullable": True},
                             {"type": "number", "nullable": True}],
                   "title": "Either", "nullable": True, "x-order": 2},
        "maybe": {"anyOf": [{"type": "string", "nullable": True},
                            {"type": "number", "nullable": True}],
                  "title": "Maybe", "default": None, "nullable": True, "x-order": 3,
                  "description": "Text or a number"},
    }


def test_a_union_input_arrives_as_the_member_cog_picks(http, client):
    output = client.run("test/unions", input={"value": 3, "values": [1, 2], "either": "x"})
    assert output == {"value": {"type": "float", "value": 3.0},
                      "values": [{"type": "int", "value": 1}, {"type": "int", "value": 2}],
                      "either": {"type": "str", "value": "x"},
                      "maybe": {"type": "NoneType", "value": None}}
    output = run(http, "test/unions", {"value": "3", "values": [1, 2.5], "either": 1.5,
                                       "maybe": 4})["output"]
    assert output == {"value": {"type": "str", "value": "3"},
                      "values": [{"type": "float", "value": 1.0},
                                 {"type": "float", "value": 2.5}],
                      "either": {"type": "float", "value": 1.5},
                      "maybe": {"type": "float", "value": 4.0}}


@pytest.mark.parametrize(("bad", "field"), [
    ({"value": True}, "value"),
    ({"value": {"x": 1}}, "value"),
    ({"values": ["3"]}, "values"),
    ({"values": [True]}, "values"),
    ({"values": 1}, "values"),
    ({"either": None}, "either"),
    ({"maybe": None}, "maybe"),
    ({"maybe": [1]}, "maybe"),
])
def test_a_value_no_member_takes_is_refused(http, client, bad, field):
    given = {"value": "v", "values": [], "either": "e", **bad}
    assert fields(refused(http, "test/unions", given)) == {f"input.{field}"}
    assert field in client_refuses(client, "test/unions", given)


# Opaque and dict


def test_opaque_and_dict_inputs_are_any_object_passed_untouched(http, client):
    schemas = components(http, "test/opaque")
    assert schemas["Input"]["properties"] == {
        "payload": {"type": "object", "title": "Payload", "x-order": 0},
        "payloads": {"type": "array", "items": {"type": "object"}, "title": "Payloads",
                     "x-order": 1},
        "data": {"type": "object", "title": "Data", "x-order": 2},
        "maybe": {"type": "object", "title": "Maybe", "default": None, "nullable": True,
                  "x-order": 3},
    }
    assert schemas["Input"]["required"] == ["payload", "payloads", "data"]
    assert schemas["Output"] == {"title": "Output", "type": "object"}
    given = {"payload": {"a": [1, {"b": None}], "c": "d"}, "payloads": [{}, {"e": 1.5}],
             "data": {"nested": {"deep": [True, None]}}}
    assert client.run("test/opaque", input=given) == {**given, "maybe": None}
    assert run(http, "test/opaque", {**given, "maybe": {"m": 1}})["output"]["maybe"] == {"m": 1}
    assert fields(refused(http, "test/opaque", {**given, "payload": "text", "data": [1]})) == {
        "input.payload", "input.data"}
    assert "payloads" in client_refuses(client, "test/opaque", {**given, "payloads": [1]})


# Optional inputs and explicit nulls


def test_optional_inputs_without_a_default_are_not_required_and_get_none(http, client):
    properties = components(http, "test/optionals")["Input"]["properties"]
    assert "required" not in components(http, "test/optionals")["Input"]
    assert properties["value"] == {"type": "string", "title": "Value", "nullable": True,
                                   "x-order": 0}
    assert properties["api_key"] == {
        "type": "string", "title": "Api Key", "format": "password", "writeOnly": True,
        "x-cog-secret": True, "default": None, "nullable": True, "x-order": 1,
        "description": "Your own key, if any"}
    assert properties["note"] == {"type": "string", "title": "Note", "nullable": True,
                                  "x-order": 2, "description": "A note"}
    nothing = {"type": "NoneType", "value": None}
    assert client.run("test/optionals", input={}) == {
        "value": nothing, "api_key": "NoneType", "note": nothing, "key": None}
    prediction = run(http, "test/optionals", {"value": "v", "api_key": "sekrit"})
    assert prediction["output"] == {
        "value": {"type": "str", "value": "v"}, "api_key": "Secret", "note": nothing,
        "key": "sekrit"}
    assert prediction["input"]["api_key"] == "**********"


@pytest.mark.parametrize("field", ["value", "api_key", "note"])
def test_an_explicit_null_is_refused_as_cog_refuses_it(http, client, field):
    problems = refused(http, "test/optionals", {field: None})
    assert fields(problems) == {f"input.{field}"}
    assert "given: null" in problems[0]["description"]
    assert field in client_refuses(client, "test/optionals", {field: None})


# TypedDict


def test_typed_dict_inputs_take_any_object_and_outputs_list_their_keys(http, client):
    schemas = components(http, "test/typed-dicts")
    assert schemas["Input"]["properties"]["items"] == {
        "type": "array", "items": {"type": "object"}, "title": "Items", "x-order": 0}
    assert schemas["Input"]["properties"]["first"] == {
        "type": "object", "title": "First", "default": None, "nullable": True, "x-order": 1}
    assert schemas["Output"] == {
        "title": "Output", "type": "object", "required": ["name"],
        "properties": {"name": {"title": "Name", "type": "string"},
                       "count": {"title": "Count", "type": "integer"}}}
    given = {"items": [{"name": "a"}, {"label": "no name"}, {}], "first": {"other": 1}}
    assert client.run("test/typed-dicts", input=given) == {"name": "?,a,?,?"}
    assert run(http, "test/typed-dicts", {"items": []})["output"] == {"name": ""}
    assert fields(refused(http, "test/typed-dicts", {"items": [1]})) == {"input.items.0"}
