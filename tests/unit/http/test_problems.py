"""Errors as problem responses: the table, and an upstream's refusal passed on."""

from __future__ import annotations

import orjson

from replicast.errors import InvalidVersion, UpstreamRefused
from replicast.http.problems import problem


def _body(response) -> dict:
    return orjson.loads(response.body)


def test_an_upstream_refusal_keeps_its_status_title_and_fields():
    fields = [{"type": "required", "field": "input.text", "description": "text is required"}]
    response = problem(UpstreamRefused("- input.text: text is required", status=422,
                                       title="Input validation failed", fields=fields))
    assert response is not None and response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert _body(response) == {"title": "Input validation failed", "status": 422,
                               "detail": "- input.text: text is required",
                               "invalid_fields": fields}


def test_an_untitled_refusal_is_titled_by_its_status():
    assert _body(problem(UpstreamRefused("gone", status=404)))["title"] == "Not found"
    assert _body(problem(UpstreamRefused("no", status=502)))["title"] == "Bad gateway"
    assert _body(problem(UpstreamRefused("pay", status=402)))["title"] == \
        "Refused by the upstream"


def test_table_rows_still_decide_their_own_errors():
    response = problem(InvalidVersion())
    assert response is not None and response.status_code == 422
    assert _body(response)["title"] == "Invalid version or not permitted"
