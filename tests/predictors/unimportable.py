"""A predictor that cannot even be loaded."""

import a_module_that_does_not_exist  # noqa: F401

from replicast import BasePredictor


class Predictor(BasePredictor):
    def predict(self) -> str:
        return "never"
