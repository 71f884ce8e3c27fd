"""A predictor whose setup fails."""

from replicast import BasePredictor


class SetupFails(BasePredictor):
    def setup(self) -> None:
        print("loading weights")
        raise RuntimeError("the weights are missing")

    def predict(self, prompt: str = "x") -> str:
        return prompt
