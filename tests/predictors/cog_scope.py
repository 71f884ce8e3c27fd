"""Predictors that read their scope, written against the real ``cog`` package."""

from cog import BasePredictor, current_scope


class Context(BasePredictor):
    def predict(self, key: str = "") -> dict:
        context = current_scope().context
        return {"type": type(context).__name__, "context": dict(context),
                "value": context.get(key), "same": self.scope.context == context}


class Metrics(BasePredictor):
    def predict(self, name: str = "tokens", value: float = 1.5) -> str:
        self.record_metric(name, value)
        current_scope().metrics["timing.decode"] = 0.25
        return "recorded"
