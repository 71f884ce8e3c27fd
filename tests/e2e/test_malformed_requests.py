"""Property tests: whatever a client sends, the answer is a 4xx problem, never a 5xx."""

from __future__ import annotations

import json
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicast.models import flux_spec
from replicast.models.validation import InputValidator

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SCHNELL = "/v1/models/black-forest-labs/flux-schnell/predictions"
ECHO = "/v1/models/replicast/echo/predictions"
VALID = {"prompt": "a boat", "megapixels": "0.25"}
json_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats() | st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
# HTTP forbids control characters and surrounding whitespace in header values.
header_text = st.text(alphabet=string.printable.strip() + " ", max_size=30).map(str.strip)


def assert_problem(response, statuses=range(400, 500)):
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["title"], str)
    for field in body.get("invalid_fields", []):
        assert set(field) == {"type", "field", "description"}
    return body


@SETTINGS
@given(body=st.binary(max_size=300))
def test_any_bytes(http, body):
    response = http.post(ECHO, content=body, headers={"Content-Type": "application/json"})
    if response.status_code != 201:
        assert_problem(response, {400, 422})


@SETTINGS
@given(body=json_values)
def test_any_json_body(http, body):
    response = http.post(ECHO, content=json.dumps(body))
    valid = (isinstance(body, dict) and set(body) == {"input"}
             and isinstance(body["input"], dict) and isinstance(body["input"].get("prompt"), str)
             and not isinstance(body["input"].get("delay", 0), bool)
             and isinstance(body["input"].get("delay", 0), int | float)
             and 0 <= body["input"].get("delay", 0) <= 5)
    if valid and _finite(body):
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, {400, 422})


def _finite(value) -> bool:
    text = json.dumps(value)
    return "NaN" not in text and "Infinity" not in text and all(
        abs(n) < 2**63 for n in _ints(value))


def _ints(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _ints(v)
    elif isinstance(value, list):
        for v in value:
            yield from _ints(v)


not_string = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                   allow_infinity=False) \
    | st.lists(st.integers(), max_size=2)
not_integer = st.none() | st.booleans() | st.text(max_size=5) | st.floats(
    allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
BAD_VALUES = {
    "prompt": not_string,
    "aspect_ratio": not_string | st.text(max_size=6).filter(
        lambda t: t not in flux_spec.ASPECT_RATIOS),
    "num_outputs": not_integer | st.integers(5, 2**62) | st.integers(-(2**62), 0),
    "num_inference_steps": not_integer | st.integers(5, 1000) | st.integers(-1000, 0),
    "seed": not_integer,
    "output_format": not_string | st.sampled_from(["gif", "WEBP", "jpeg", ""]),
    "output_quality": not_integer | st.integers(101, 2**62) | st.integers(-(2**62), -1),
    "disable_safety_checker": not_string.filter(lambda v: not isinstance(v, bool))
    | st.text(max_size=4),
    "go_fast": st.text(max_size=4) | st.integers(),
    "megapixels": st.sampled_from(["2", "0.5", "", 1, 0.25, None]),
}


@SETTINGS
@given(field=st.sampled_from(sorted(BAD_VALUES)), data=st.data())
def test_a_bad_input_is_a_422_naming_the_field(http, field, data):
    value = data.draw(BAD_VALUES[field])
    response = http.post(SCHNELL, json={"input": {**VALID, field: value}})
    body = assert_problem(response, {422})
    assert body["title"] in {"Input validation failed", "Invalid request"}
    named = [f["field"] for f in body["invalid_fields"]]
    assert named and all(n == f"input.{field}" or n.startswith(f"input.{field}.")
                         for n in named)


def test_the_validator_agrees_that_the_base_input_is_valid():
    InputValidator(flux_spec.schemas()[flux_spec.SCHNELL]).validate(VALID)


@SETTINGS
@given(prefer=header_text, cancel_after=header_text)
def test_any_prefer_and_cancel_after_headers(http, prefer, cancel_after):
    response = http.post(ECHO, json={"input": {"prompt": "x"}},
                         headers={"Prefer": prefer, "Cancel-After": cancel_after})
    if response.status_code != 201:
        body = assert_problem(response, {422})
        assert {f["field"] for f in body["invalid_fields"]} <= {"Prefer", "Cancel-After"}


@SETTINGS
# "." and ".." are dot segments the client itself resolves away.
@given(prediction_id=st.text(min_size=1, max_size=40).filter(lambda t: t not in {".", ".."}))
def test_any_prediction_id(http, prediction_id):
    for response in (http.get(f"/v1/predictions/{quote(prediction_id, safe='')}"),
                     http.post(f"/v1/predictions/{quote(prediction_id, safe='')}/cancel")):
        assert_problem(response, {404})


@SETTINGS
@given(params=st.dictionaries(st.sampled_from(["cursor", "created_after", "created_before",
                                               "source"]), header_text, max_size=3))
def test_any_listing_query(http, params):
    response = http.get("/v1/predictions", params=params)
    if response.status_code != 200:
        assert_problem(response, {422})


@pytest.mark.parametrize("path", ["/v1/nothing", "/v2/predictions", "/replicate/v1/x/y"])
def test_unknown_routes_are_404_problems(http, path):
    assert_problem(http.get(path), {404})


def test_wrong_methods_are_405_problems(http):
    body = assert_problem(http.delete("/v1/predictions"), {405})
    assert "DELETE" in body["detail"]


def test_an_oversized_body_is_a_413(http):
    huge = b'{"input": {"prompt": "' + b"x" * (17 * 1024 * 1024) + b'"}}'
    assert_problem(http.post(ECHO, content=huge), {413})


@pytest.mark.parametrize("headers", [
    {"Prefer": "wait=²"}, {"Prefer": "wait=" + "9" * 5000}, {"Cancel-After": "²"},
    {"Cancel-After": "99999999999999h"}, {"Cancel-After": "9" * 40},
])
def test_headers_that_once_overflowed(http, headers):
    response = http.post(ECHO, json={"input": {"prompt": "x"}},
                         headers={k: v.encode() for k, v in headers.items()})
    assert_problem(response, {422})


@pytest.mark.parametrize("body,field", [
    ({"input": {"prompt": "x"}, "webhook": "http://[::1"}, "webhook"),
    ({"input": {"prompt": "x"}, "webhook": "http://xn--/h"}, "webhook"),
    ({"input": {"prompt": "x"}, "webhook": "https://h:99999/x"}, "webhook"),
    ({"input": {"prompt": "x"}, "webhook": "https://example.com/h",
      "webhook_events_filter": []}, "webhook_events_filter"),
])
def test_bad_webhooks_are_refused_at_creation(http, body, field):
    body_json = assert_problem(http.post(ECHO, json=body), {422})
    assert [f["field"] for f in body_json["invalid_fields"]] == [field]


def test_numbers_and_nesting_that_once_failed_later(http):
    nested = '{"input": {"prompt": "x", "z": ' + "[" * 300 + "]" * 300 + "}}"
    assert_problem(http.post(ECHO, content=nested), {422})
    body = assert_problem(http.post(SCHNELL, json={"input": {**VALID, "seed": 1e20}}), {422})
    assert body["invalid_fields"][0]["field"] == "input.seed"


@pytest.mark.parametrize("params", [{"created_after": "0001-01-01T00:00:00+01:00"},
                                    {"created_before": "9999-12-31T23:59:59-01:00"}])
def test_dates_out_of_range(http, params):
    assert_problem(http.get("/v1/predictions", params=params), {422})


def test_odd_last_event_ids_start_the_stream_over(http):
    done = http.post(ECHO, json={"input": {"prompt": "a b"}}, headers={"Prefer": "wait"}).json()
    for last in ["²:1", "1:" + "9" * 5000, "x"]:
        response = http.get(done["urls"]["stream"], headers={"Last-Event-ID": last.encode()})
        assert response.status_code == 200
        assert "data: a\n" in response.text and "event: done" in response.text
