"""The predictor API: metrics, scopes, secrets, structured outputs."""

from __future__ import annotations

import dataclasses

import pytest

from replicast import BaseModel, BaseRunner, Secret, current_scope
from replicast.predictors.sdk import Metrics, check_metric_name, enter_scope


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


def test_metrics_are_set_and_deleted_like_a_dict():
    metrics = Metrics()
    metrics["timing.decode"] = 0.5
    metrics["tokens"] = 3
    assert metrics == {"timing": {"decode": 0.5}, "tokens": 3}
    del metrics["tokens"]
    metrics.delete("timing.decode")
    metrics.delete("never.there")
    assert metrics == {"timing": {}}


@pytest.mark.parametrize("name", ["tokens", "a.b.c.d", "gpu_memory.peak_mb", "x1", "A" * 128])
def test_metric_names_cog_accepts(name):
    check_metric_name(name)


@pytest.mark.parametrize(("name", "message"), [
    ("", "metric name must not be empty"),
    ("predict_time", "'predict_time' is reserved by the runtime"),
    ("cog.anything", "the 'cog.' prefix is reserved for system metrics"),
    (".a", "metric name must not start with a dot"),
    ("a.", "metric name must not end with a dot"),
    ("a..b", "metric name must not contain empty segments (consecutive dots)"),
    ("a" * 129, "metric name must be 128 characters or fewer (got 129 characters)"),
    ("a.b.c.d.e", "metric name must have at most 4 dot-separated segments (got 5)"),
    ("a-b", "metric name segment 'a-b' contains invalid character '-'"),
    ("é", "metric name segment 'é' contains invalid character 'é'"),
    ("_a", "metric name segment '_a' must start with a letter"),
    ("a.9b", "metric name segment '9b' must start with a letter"),
    ("a_", "metric name segment 'a_' must end with a letter or digit"),
    ("a__b", "metric name segment 'a__b' must not contain consecutive underscores"),
])
def test_metric_names_cog_refuses(name, message):
    with pytest.raises(ValueError) as refused:
        Metrics().record(name, 1)
    assert str(refused.value) == message


def test_metric_values_must_be_json_kinds_and_incr_numbers():
    metrics = Metrics()
    for value in (True, 1, 1.5, "s", [1], {"k": 1}):
        metrics.record("v", value)
    with pytest.raises(ValueError, match="must be bool, int, float, str, list or dict"):
        metrics.record("v", object())
    with pytest.raises(ValueError, match="incr needs a number"):
        metrics.record("n", "1", mode="incr")
    assert metrics == {"v": {"k": 1}}
