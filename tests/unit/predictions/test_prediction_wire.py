"""A prediction's ``urls``: under the prefix it was made under, or the one asked on."""

from __future__ import annotations

from replicast import times
from replicast.predictions import wire
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status

BASE = "https://replicast.example"


def _prediction(api_prefix: str) -> Prediction:
    return Prediction(id="abc", account_id=1, model="o/n", version="hidden", input={},
                      status=Status.STARTING, created_at=times.now(), base_url=BASE,
                      stream_token="tok", api_prefix=api_prefix)


def test_a_webhook_names_the_prefix_the_prediction_was_made_under():
    body = wire.to_json(_prediction("/replicate/v1"), links=None)
    assert body["urls"] == {
        "get": f"{BASE}/replicate/v1/predictions/abc",
        "cancel": f"{BASE}/replicate/v1/predictions/abc/cancel",
        "stream": f"{BASE}/replicate/v1/streams/tok",
        "web": f"{BASE}/p/abc",
    }


def test_a_response_names_the_prefix_it_answers_on():
    urls = wire.to_json(_prediction("/replicate/v1"), links=None, prefix="/v1")["urls"]
    assert urls["get"] == f"{BASE}/v1/predictions/abc"
    assert urls["web"] == f"{BASE}/p/abc"
    assert wire.urls(_prediction("/v1"), "/replicate/v1")["cancel"] == \
        f"{BASE}/replicate/v1/predictions/abc/cancel"
