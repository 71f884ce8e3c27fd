"""A stand-in for a GPU model: one prediction at a time, 50 ms each, no CPU spent."""

import time

from replicast import BasePredictor


class Predictor(BasePredictor):
    def predict(self, prompt: str = "", delay: float = 0.0) -> str:
        time.sleep(0.05)
        return prompt
