"""The predictor's own process: what it reports of the predictor."""

from __future__ import annotations

import cog

import replicast
from replicast.predictors.child import _jsonable, _summary


class Plain(cog.BasePredictor):
    def predict(self) -> str:
        return ""


class Runner(cog.BaseRunner):
    def run(self) -> str:
        return ""


class Ours(replicast.BasePredictor):
    def predict(self) -> str:
        return ""


class Documented(cog.BasePredictor):
    """Captions images.

    Longer text that is not the summary.
    """

    def predict(self) -> str:
        return ""


class Inherits(Documented):
    def predict(self) -> str:
        return "x"


def predict_function() -> str:
    """A function predictor's docstring
    on two lines."""
    return ""


def test_a_predictor_without_a_docstring_has_no_description():
    assert cog.BasePredictor.__doc__  # Cog's base classes have docstrings of their own
    for predictor in (Plain(), Runner(), Ours()):
        assert _summary(predictor) is None


def test_the_description_is_the_first_paragraph_of_the_predictors_docstring():
    assert _summary(Documented()) == "Captions images."
    assert _summary(Inherits()) == "Captions images."
    assert _summary(predict_function) == "A function predictor's docstring on two lines."


def test_a_secret_in_the_output_stays_masked():
    """Cog's Secret is a dataclass: it must not be written out field by field."""
    output = {"key": cog.Secret("hunter2"), "ours": [replicast.Secret("hunter2")]}
    assert _jsonable(output) == {"key": "**********", "ours": ["**********"]}
