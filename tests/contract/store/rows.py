"""Predictions to store, for the store's contract tests (and the unit tests that borrow it)."""

from __future__ import annotations

from replicast import ids, times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status


def make(account_id: int, **fields) -> Prediction:
    values = dict(
        id=ids.prediction_id(), account_id=account_id, model="replicast/echo", version="v1",
        input={"prompt": "hi", "n": [1, 2.5, None, {"é": True}]}, status=Status.STARTING,
        created_at=times.now(), base_url="http://h", stream_token=ids.url_token(),
    )
    values.update(fields)
    return Prediction(**values)
