import os

import mylib
from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self, weights: str | None = None) -> None:
        self.cwd = os.getcwd()
        self.weights = weights

    def predict(self, name: str = "world") -> dict:
        return {
            "shout": mylib.shout(name),
            "cwd": self.cwd,
            "weights": self.weights,
            "greeting": os.environ.get("GREETING"),
            "empty": os.environ.get("EMPTY"),
            "with_equals": os.environ.get("WITH_EQUALS"),
            "setup_timeout": os.environ.get("COG_SETUP_TIMEOUT"),
        }
