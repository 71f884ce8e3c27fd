"""Schemathesis over the server's own OpenAPI document: no 5xx, and every answer as documented.

Each operation the document lists is called with data generated from its own description,
valid and invalid, and each response is checked: not a server error, a status the operation
declares, the content type and headers it declares, and a body matching the declared
schema. A second pass aims the same requests at things that exist (models, predictions,
stream tokens, output files, uploaded files) and makes some creates valid, so that the
checks see the successful answers too, not only the 404s and 422s.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from replicast.api import openapi
from replicast.api.headers import parse_prefer
from replicast.errors import InvalidRequest
from replicast.models.validation import InputValidator
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
from tests.support.schemas import REPLICATE, conforms
from tests.support.server import TOKEN, ServerProcess

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Nothing here should take more than about a second; a request this long is a hang.
REQUEST_TIMEOUT = 15
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])
# Valid inputs that cost little: the stand-ins draw small images.
VALID_INPUTS: dict[str, dict[str, Any]] = {
    "replicast/echo": {"prompt": "fuzz", "delay": 0},
    "replicast/fail": {"seconds": 0},
    "replicast/sleep": {"seconds": 0.05},
    "black-forest-labs/flux-schnell": {"prompt": "p", "megapixels": "0.25", "num_outputs": 1},
    "black-forest-labs/flux-dev": {"prompt": "p", "megapixels": "0.25", "num_outputs": 1,
                                   "num_inference_steps": 1},
    "black-forest-labs/flux-kontext-pro": {"prompt": "p", "aspect_ratio": "1:1"},
    "black-forest-labs/flux-kontext-max": {"prompt": "p", "aspect_ratio": "1:1"},
    "black-forest-labs/flux-dev-lora": {"prompt": "p", "megapixels": "0.25",
                                        "num_inference_steps": 1},
    "black-forest-labs/flux-schnell-lora": {"prompt": "p", "megapixels": "0.25"},
    **{f"black-forest-labs/{name}": {"prompt": "p", "aspect_ratio": "custom", "width": 256,
                                     "height": 256}
       for name in ("flux-pro", "flux-1.1-pro", "flux-2-pro", "flux-2-max", "flux-2-flex",
                    "flux-2-dev")},
    "black-forest-labs/flux-1.1-pro-ultra": {"prompt": "p", "aspect_ratio": "21:9"},
    **{f"black-forest-labs/flux-2-{name}": {"prompt": "p", "output_megapixels": "0.25"}
       for name in ("klein-4b", "klein-4b-base", "klein-9b-base")},
    "black-forest-labs/flux-2-klein-9b": {"prompt": "p", "megapixels": "0.25"},
}

# Schemathesis makes one test per operation when tests are collected, before any server
# runs, so it reads the document as the server builds it; the first test checks that the
# server serves exactly that, its own address aside.
DOCUMENT = openapi.build("http://127.0.0.1")
OPERATIONS = {f"{method.upper()} {path}": operation
              for path, item in DOCUMENT["paths"].items() for method, operation in item.items()}
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Rate limits off: the fuzzer sends thousands of requests with one token, and
    # hundreds of made-up Authorization headers from one address.
    process = ServerProcess(tmp_path_factory.mktemp("fuzz"), env={
        "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0",
        "REPLICAST_RATE_LIMIT_AUTH_FAILURES": "0",
        "REPLICAST_INPUT_FETCH_TIMEOUT": "2", "REPLICAST_WEBHOOK_TIMEOUT": "1",
    }).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def known(http) -> dict[str, list[dict[str, str]]]:
    """Path parameters naming things that exist, by their sorted parameter names."""
    models = http.get("/v1/models").json()["results"]
    finished = [_create(http, name, VALID_INPUTS[name], Prefer="wait")
                for name in ("replicast/echo", "replicast/fail",
                             "black-forest-labs/flux-schnell")]
    assert [p["status"] for p in finished] == ["succeeded", "failed", "succeeded"]
    canceled = _create(http, "replicast/sleep", {"seconds": 60})
    assert http.post(f"/v1/predictions/{canceled['id']}/cancel").status_code == 200
    found: dict[str, list[dict[str, str]]] = {
        "id": [{"id": p["id"]} for p in [*finished, canceled]],
        "name,owner": [{"owner": m["owner"], "name": m["name"]} for m in models],
        "name,owner,version_id": [{"owner": m["owner"], "name": m["name"],
                                   "version_id": m["latest_version"]["id"]} for m in models],
        # Finished predictions only: a live stream stays open until its prediction ends.
        "token": [{"token": p["urls"]["stream"].rsplit("/", 1)[1]} for p in finished],
        "file_id": [{"file_id": _upload(http)} for _ in range(3)],
    }
    # The output route's parameters, read from the document and matched to a real URL.
    for label in OPERATIONS:
        if label.startswith("GET /outputs/"):
            template = label.split(" ", 1)[1]
            names = re.findall(r"{(\w+)}", template)
            parts = urlsplit(finished[2]["output"][0]).path.split("/")[2:]
            if len(parts) == len(names):
                found[",".join(sorted(names))] = [dict(zip(names, parts, strict=True))]
    return found


def _create(http, model: str, inputs: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = http.post(f"/v1/models/{model}/predictions", json={"input": inputs},
                         headers=headers)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def _upload(http) -> str:
    response = http.post("/v1/files", files={"content": ("a.txt", b"fuzz", "text/plain")})
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


def test_the_fuzzed_document_is_the_one_served(http, server):
    served = http.get("/openapi.json").json()
    assert served["servers"] == [{"url": server.base_url}]
    assert served == {**DOCUMENT, "servers": served["servers"]}


@schema.parametrize()
@FUZZ
def test_every_operation(case, http, server):
    """Generated requests, path parameters included: every answer as documented."""
    _call("generated", case, http, server)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ
def test_every_operation_on_things_that_exist(case, data, http, server, known):
    """The same, with path parameters that name real things, and often valid creates."""
    key = ",".join(sorted(case.path_parameters or {}))
    if case.method == "DELETE" and key == "file_id":
        # Each delete gets a file of its own, so that every one finds something to delete.
        case.path_parameters = {"file_id": _upload(http)}
    elif key in known:
        case.path_parameters = {**case.path_parameters, **data.draw(st.sampled_from(known[key]))}
    if _creates_prediction(case) and data.draw(st.booleans()):
        _make_valid(case, data)
    _call("existing", case, http, server)


def _creates_prediction(case) -> bool:
    return bool(case.method == "POST" and case.operation.path.endswith("/predictions"))


def _make_valid(case, data) -> None:
    """A create the server should accept: a known model, a valid input, no odd extras."""
    if "owner" in (case.path_parameters or {}):
        model = f"{case.path_parameters['owner']}/{case.path_parameters['name']}"
        case.body = {"input": dict(VALID_INPUTS[model])}
    else:
        model = data.draw(st.sampled_from(sorted(VALID_INPUTS)))
        case.body = {"version": model, "input": dict(VALID_INPUTS[model])}
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "cancel-after"}
    case.headers = {**headers, **data.draw(st.sampled_from([{}, {"Cancel-After": "5m"}]))}


SEEN: dict[str, dict[str, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
"""Statuses answered, by pass and operation: proof that the fuzzing got past the errors."""


def _call(fuzz_pass: str, case, http, server) -> None:
    for name, value in list((case.headers or {}).items()):
        # Prefer: wait holds a request up to its number of seconds; one is enough here.
        if name.lower() == "prefer" and _waits(value):
            case.headers[name] = "wait=1"
    response = case.call(base_url=server.base_url, headers=AUTH, timeout=REQUEST_TIMEOUT)
    SEEN[fuzz_pass][f"{case.method} {case.operation.path}"][response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=AUTH)
    if response.status_code == 201 and _creates_prediction(case):
        # Cancel what the fuzzing created, so that queued work cannot slow what follows.
        prediction_id = response.json()["id"]
        assert http.post(f"/v1/predictions/{prediction_id}/cancel").status_code == 200


def _waits(value: object) -> bool:
    try:
        return isinstance(value, str) and (parse_prefer(value) or 0) > 1
    except InvalidRequest:
        return False


# Operations that succeed only with a secret the server made for another server (an
# upstream's webhook back to a gateway), which no fuzzer can come by.
ONLY_WITH_A_SERVERS_SECRET = {"POST /v1/gateway/hooks/{token}",
                              "POST /replicate/v1/gateway/hooks/{token}"}


# Operations whose success needs a real image file in a multipart body, which the fuzzer's
# random bytes never are; their successes are proven in tests/e2e/test_openai_images.py.
ONLY_WITH_A_REAL_IMAGE = {"POST /v1/images/edits", "POST /openai/v1/images/edits"}


def test_the_fuzzing_got_past_the_errors():
    """Every operation aimed at real things answered its success status at least once."""
    seen = SEEN["existing"]
    if not seen:
        pytest.skip("the fuzzing tests did not run")
    for label, operation in OPERATIONS.items():
        if label in ONLY_WITH_A_SERVERS_SECRET:
            # Its success is proven in tests/e2e/test_gateway_hooks.py: here, every
            # answer must be the 404 of a token nobody could have guessed.
            assert set(seen[label]) <= {404}, (label, dict(seen[label]))
            continue
        if label in ONLY_WITH_A_REAL_IMAGE:
            assert seen[label][400], (label, dict(seen[label]))  # refused, never crashed
            continue
        success = min(code for code in operation["responses"] if code.startswith("2"))
        assert seen[label][int(success)], (label, dict(seen[label]))


# Property tests through HTTP: fewer examples than the in-process ones in tests/unit, the
# same promises, and what only a real server can show (the stored input, the problem body).
OVER_HTTP = settings(max_examples=200, deadline=None, derandomize=True, database=None)
# What HTTP lets a header value be: no controls but tab, nothing around it.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                      exclude_characters="\x7f"), max_size=30).map(str.strip)


def _input_schema(http, model: str) -> dict[str, Any]:
    """The model's input schema as served, made plain (enum references inlined)."""
    version = http.get(f"/v1/models/{model}").json()["latest_version"]
    return InputValidator(version["openapi_schema"]).schema


def _answer(http, path: str, body: Any, raw: bytes | None = None,
            headers: dict[str, bytes] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and JSON of a create; a prediction is checked and canceled, a problem
    checked against the document."""
    response = http.post(path, content=raw if raw is not None else json.dumps(body),
                         headers={"Content-Type": "application/json", **(headers or {})},
                         timeout=REQUEST_TIMEOUT)
    answer = response.json()
    if response.status_code == 201:
        conforms(DOCUMENT, "Prediction", answer)
        conforms(REPLICATE, "schemas_prediction_response", answer)
        assert http.post(f"/v1/predictions/{answer['id']}/cancel").status_code == 200
        return 201, answer
    assert 400 <= response.status_code < 500, (response.status_code, answer)
    assert response.headers["content-type"] == "application/problem+json"
    conforms(DOCUMENT, "Problem", answer)
    assert answer["status"] == response.status_code
    return response.status_code, answer


@OVER_HTTP
@given(data=st.data())
def test_any_input_over_http(http, data):
    """Accepted and kept exactly as sent, or refused with the bad fields named."""
    model = data.draw(st.sampled_from(sorted(VALID_INPUTS)))
    input_schema = _input_schema(http, model)
    value = data.draw(st.one_of(typed_inputs(input_schema), typed_inputs(input_schema),
                                objects_over(sorted(input_schema["properties"])),
                                json_values))
    raw = data.draw(st.sampled_from(list(encodings({"input": value}))))
    status, answer = _answer(http, f"/v1/models/{model}/predictions", {"input": value}, raw)
    if status == 201:
        assert is_standard_json(value) and answer["input"] == value
    elif status == 422:
        assert answer["invalid_fields"], answer
        assert all(names_a_place(f["type"], f["field"], {"input": value})
                   for f in answer["invalid_fields"]), answer
    else:
        # Not JSON: NaN, Infinity, a lone surrogate, bytes that are not UTF-8.
        assert status == 400 and not (is_standard_json(value) and is_utf8(raw)), answer


@OVER_HTTP
@given(body=st.one_of(json_values, objects_over(["input", "version", "webhook",
                                                 "webhook_completed", "webhook_events_filter",
                                                 "stream"])),
       path=st.sampled_from(["/v1/predictions", "/v1/models/replicast/echo/predictions"]))
def test_any_body_over_http(http, body, path):
    status, answer = _answer(http, path, body, next(encodings(body)))
    if status in {201, 400}:
        assert (status == 201) == is_standard_json(body), answer
    elif answer.get("invalid_fields"):
        assert status == 422 and all(names_a_place(f["type"], f["field"], body)
                                     for f in answer["invalid_fields"]), answer
    else:
        assert path == "/v1/predictions" and answer["title"] == \
            "Invalid version or not permitted", answer


@OVER_HTTP
@given(prefer=header_values | st.sampled_from(["wait", "wait=1", "wait=61", "wait=0"]),
       cancel_after=header_values | st.sampled_from(["5s", "24h", "4", "1h30m"]),
       authorization=st.one_of(header_values, st.just(f"Bearer {TOKEN}"),
                               st.builds(lambda s, t: f"{s} {t}".strip(),
                                         st.sampled_from(["Bearer", "token", "Basic"]),
                                         header_values)))
def test_any_create_headers_over_http(http, prefer, cancel_after, authorization):
    headers = {"Prefer": prefer, "Cancel-After": cancel_after, "Authorization": authorization}
    if _waits(prefer):
        headers["Prefer"] = "wait=1"
    status, answer = _answer(http, "/v1/models/replicast/echo/predictions",
                             {"input": {"prompt": "x"}},
                             headers={k: v.encode("latin-1") for k, v in headers.items()})
    if status == 422:
        assert {f["field"] for f in answer["invalid_fields"]} <= {"Prefer", "Cancel-After"}
    else:
        assert status in {201, 401}, answer
        assert (status == 401) == (authorization.split() != ["Bearer", TOKEN]), answer


query_values = st.text(max_size=30) | wild_text.filter(is_standard_json) | st.sampled_from(
    ["2025-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])


@OVER_HTTP
@given(params=st.dictionaries(st.sampled_from(["cursor", "created_after", "created_before",
                                               "source"]), query_values, max_size=4))
def test_any_listing_query_over_http(http, params):
    response = http.get("/v1/predictions", params=params, timeout=REQUEST_TIMEOUT)
    if response.status_code == 200:
        conforms(DOCUMENT, "PredictionPage", response.json())
        return
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {f["field"] for f in response.json()["invalid_fields"]} <= set(params)
