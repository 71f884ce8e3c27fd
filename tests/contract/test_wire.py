"""Every status of a prediction, as the API shows it, against Replicate's published schema."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replicast import ids, times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.predictions.wire import to_json
from tests.support.schemas import REPLICATE, conforms


def prediction(status: Status, **fields) -> Prediction:
    created = times.now()
    values = dict(id=ids.prediction_id(), account_id=1, model="a/b", version="hidden",
                  input={"prompt": "p"}, status=status, created_at=created,
                  base_url="http://h", stream_token=ids.url_token())
    if status is not Status.STARTING and status is not Status.ABORTED:
        values["started_at"] = created + timedelta(milliseconds=5)
    if status.terminal:
        values["completed_at"] = created + timedelta(seconds=1)
        values["metrics"] = {"total_time": 1.0}
    values.update(fields)
    return Prediction(**values)


@pytest.mark.parametrize("status", list(Status))
def test_every_status_conforms(status):
    extra = {"error": "boom"} if status is Status.FAILED else {}
    if status is Status.SUCCEEDED:
        extra["output"] = ["https://h/out-0.webp"]
    body = to_json(prediction(status, deadline=times.now(), **extra), links=None)
    conforms(REPLICATE, "schemas_prediction_response", body)
    assert body["status"] == status.value


def test_a_timed_out_wait_shows_starting_without_output():
    body = to_json(prediction(Status.PROCESSING, output=["partial"]), links=None,
                   still_starting=True)
    assert body["status"] == "starting" and body["output"] is None
    conforms(REPLICATE, "schemas_prediction_response", body)
