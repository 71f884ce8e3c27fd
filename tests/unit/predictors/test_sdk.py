"""The predictor API: metrics, scopes, secrets, structured outputs."""

from __future__ import annotations

import dataclasses

import pytest

from replicast import BaseModel, BaseRunner, Secret, current_scope
from replicast.predictors.sdk import Metrics, enter_scope


def test_metrics_replace_increment_append_and_nest():
    metrics = Metrics()
    metrics.record("a", 1)
    metrics.record("a", 2)
    metrics.record("n", 1, mode="incr")
    metrics.record("n", 2.5, mode="incr")
    metrics.record("seen", "x", mode="append")
    metrics.record("seen", "y", mode="append")
    metrics.record("timing.vae.decode", 0.25)
    metrics.record("timing.total", 1.0)
    assert metrics == {"a": 2, "n": 3.5, "seen": ["x", "y"],
                       "timing": {"vae": {"decode": 0.25}, "total": 1.0}}
    metrics.record("timing.vae.decode", None)
    metrics.record("a", None)
    metrics.record("missing.deep", None)
    assert metrics == {"n": 3.5, "seen": ["x", "y"], "timing": {"vae": {}, "total": 1.0}}
    with pytest.raises(ValueError, match="mode must be"):
        metrics.record("a", 1, mode="sum")


def test_append_to_a_single_value_makes_a_list():
    metrics = Metrics()
    metrics.record("x", 1)
    metrics.record("x", 2, mode="append")
    assert metrics == {"x": [1, 2]}


def test_record_metric_goes_to_the_current_scope():
    class Runner(BaseRunner):
        def run(self) -> None:
            self.record_metric("tokens", 3)
            self.scope.metrics.record("tokens", 1, mode="incr")
            current_scope().record_metric("temperature", 0.7)

    scope = enter_scope()
    Runner().run()
    assert scope.metrics == {"tokens": 4, "temperature": 0.7}


def test_a_secret_never_shows_its_value():
    secret = Secret("hunter2")
    assert secret.get_secret_value() == "hunter2"
    assert str(secret) == "**********" and "hunter2" not in repr(secret)


def test_base_model_subclasses_are_dataclasses():
    class Output(BaseModel):
        text: str
        score: float = 0.5

    output = Output(text="hi")
    assert dataclasses.is_dataclass(output) and output.score == 0.5
