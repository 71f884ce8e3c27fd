"""Property tests: whatever input a create carries, each built-in model accepts it or refuses
it with a client error naming the bad field; nothing else ever comes out of validation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from replicast.api.predictions import MODEL_CREATE
from replicast.errors import (
    InvalidField,
    InvalidInput,
    InvalidRequest,
    MalformedBody,
    RequestError,
)
from replicast.http.body import parse_json
from replicast.http.problems import PROBLEMS
from replicast.models.base import Model
from replicast.models.registry import builtin_models
from replicast.webhooks.targets import check_target
from tests.support.fuzzing import (
    encodings,
    is_standard_json,
    is_utf8,
    json_values,
    names_a_place,
    objects_over,
    typed_inputs,
    wild_text,
)

# Every kind of schema and of model rule once: the diagnostic models, and one catalog model
# of each size rule and reference input (the rest share their schemas' shapes and rules;
# test_catalog_schemas.py checks each schema itself).
_ONE_OF_EACH = {"flux-schnell", "flux-dev", "flux-kontext-pro", "flux-dev-lora", "flux-1.1-pro",
                "flux-1.1-pro-ultra", "flux-2-pro", "flux-2-dev", "flux-2-klein-9b"}
MODELS = {m.full_name: m for m in builtin_models()
          if m.owner != "black-forest-labs" or m.name in _ONE_OF_EACH}
MANY = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def _properties(model: Model) -> list[str]:
    return sorted(model.validator.properties)


def _inputs(model: Model) -> st.SearchStrategy[Any]:
    """Mostly objects over the model's own inputs, often of the right types, sometimes
    anything at all."""
    return st.one_of(typed_inputs(model.validator.schema), typed_inputs(model.validator.schema),
                     objects_over(_properties(model)), json_values)


def _status(error: RequestError) -> int:
    return next(status for kind, status, _ in PROBLEMS if isinstance(error, kind))


def _assert_names_the_bad_fields(error: InvalidRequest, body: Any, model: Model) -> None:
    assert error.fields, error.detail
    # The model's own rules may require an input for some values of another (a custom
    # size's sides); those it names are required too.
    required = set(model.validator.schema.get("required", [])) | _required_by_model(
        model, body.get("input") if isinstance(body, dict) else None)
    for problem in error.fields:
        assert problem.description, problem
        assert names_a_place(problem.type, problem.field, body), (problem, body)
        if problem.type == "required" and problem.field.startswith("input."):
            assert problem.field.removeprefix("input.") in required, problem


def _create(model: Model, raw: bytes) -> dict[str, Any]:
    """What a create by model checks before anything is stored: the body, then the input."""
    body = MODEL_CREATE.check(parse_json(raw))
    model.validator.validate(body["input"])
    if isinstance(body.get("webhook"), str):
        check_target(body["webhook"], allow_private=False)
    return body


def _oracle(model: Model, value: Any) -> bool:
    """jsonschema's own verdict on an input, formats aside (they only make it stricter),
    then the model's own rules on what the schema passes."""
    if not Draft7Validator(model.validator.schema).is_valid(value):
        return False
    return not _model_refusals(model, value)


def _model_refusals(model: Model, value: Any) -> list[InvalidField]:
    """What the model's own check (beyond its schema) refuses in a schema-valid input."""
    if model.input_check is None or not isinstance(value, dict):
        return []
    try:
        model.input_check(model.validator.fill_defaults(value)[0])
    except InvalidInput as error:
        return error.fields
    return []


def _required_by_model(model: Model, value: Any) -> set[str]:
    if not isinstance(value, dict) or not Draft7Validator(model.validator.schema).is_valid(
            value):
        return set()
    return {f.field.removeprefix("input.") for f in _model_refusals(model, value)
            if f.type == "required"}


@pytest.mark.parametrize("name", sorted(MODELS))
@MANY
@given(data=st.data())
def test_any_input_is_accepted_or_refused_naming_the_field(name, data):
    model = MODELS[name]
    value = data.draw(_inputs(model))
    raw = data.draw(st.sampled_from(list(encodings({"input": value}))))
    _check_outcome(model, {"input": value}, raw)


@pytest.mark.parametrize("name", sorted(MODELS))
@MANY
@given(body=st.one_of(json_values, objects_over(["input", "webhook", "webhook_completed",
                                                 "webhook_events_filter", "stream"])),
       data=st.data())
def test_any_body_is_accepted_or_refused_naming_the_field(name, body, data):
    model = MODELS[name]
    raw = data.draw(st.sampled_from(list(encodings(body))))
    _check_outcome(model, body, raw)


def _check_outcome(model: Model, body: Any, raw: bytes) -> None:
    try:
        accepted = _create(model, raw)
    except RequestError as error:
        assert 400 <= _status(error) < 500
        if isinstance(error, MalformedBody):
            # Only what strict JSON refuses: NaN, Infinity, invalid Unicode.
            assert not (is_standard_json(body) and is_utf8(raw)), (body, raw)
        elif isinstance(error, InvalidRequest):
            _assert_names_the_bad_fields(error, body, model)
            if isinstance(error, InvalidInput) and is_standard_json(body):
                formats_only = all(f.type == "format" for f in error.fields)
                assert formats_only or not _oracle(model, body["input"]), error.detail
        return
    assert is_standard_json(body) and _oracle(model, accepted["input"]), body
    # Whatever is accepted is stored and shown again: it must encode.
    assert orjson.loads(orjson.dumps(accepted)) == accepted


@pytest.mark.parametrize("name", sorted(MODELS))
@MANY
@given(data=st.data())
def test_the_validator_alone_never_fails_otherwise(name, data):
    """Called with any Python value an input could be, even ones no parser would make."""
    model = MODELS[name]
    value = data.draw(_inputs(model))
    try:
        inputs, unknown = model.validator.validate(value)
    except InvalidInput as error:
        assert error.fields and all(f.field.startswith("input") for f in error.fields)
        return
    assert set(unknown) == set(value) - set(model.validator.properties)
    assert set(model.validator.schema.get("required", [])) <= set(inputs)


@MANY
@given(url=wild_text | st.builds(lambda host, path: f"https://{host}/{path}", wild_text,
                                  wild_text))
def test_any_webhook_is_kept_or_refused_naming_the_field(url):
    try:
        assert check_target(url, allow_private=False) == url
    except InvalidRequest as error:
        assert [f.field for f in error.fields] == ["webhook"]
