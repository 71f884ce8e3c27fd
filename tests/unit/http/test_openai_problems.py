"""Replicast's request errors in OpenAI's error shape."""

from __future__ import annotations

import orjson
import pytest

from replicast.errors import (
    InvalidField,
    InvalidInput,
    MalformedBody,
    Throttled,
    Unauthenticated,
)
from replicast.http.openai_problems import openai_error
from replicast.openai_images.errors import ImageRequestRefused, ModelNotFound


@pytest.mark.parametrize(("error", "status", "kind", "param", "code"), [
    (ImageRequestRefused("bad size", "size"), 400, "invalid_request_error", "size",
     "invalid_value"),
    (ModelNotFound("a/b"), 404, "invalid_request_error", "model", "model_not_found"),
    (Unauthenticated("no token"), 401, "invalid_request_error", None, "invalid_api_key"),
    (MalformedBody("not JSON"), 400, "invalid_request_error", None, "invalid_json"),
    (InvalidInput.from_fields([InvalidField("maximum", "input.seed", "too big")]), 400,
     "invalid_request_error", "seed", "invalid_value"),
    (Throttled("slow down", retry_after=3), 429, "requests", None, "rate_limit_exceeded"),
])
def test_errors_take_openais_shape_and_status(error, status, kind, param, code):
    response = openai_error(error)
    body = orjson.loads(response.body)["error"]
    assert response.status_code == status
    assert (body["type"], body["param"], body["code"]) == (kind, param, code)
    assert body["message"]


def test_a_throttled_answer_says_when_to_retry():
    assert openai_error(Throttled("slow", retry_after=3)).headers["retry-after"] == "3"
