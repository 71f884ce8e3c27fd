"""Prometheus figures: what this process saw, and what the store knows."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from replicast import ids, times
from replicast.metrics import Metrics
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.runs import QueueStats, WorkerInfo
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent


class FakePredictions:
    async def status_counts(self):
        return {("a/x", "succeeded"): 3, ("a/x", "starting"): 2}


class FakeRuns:
    async def queue_stats(self):
        return [QueueStats("a/x", 2, times.now() - timedelta(seconds=10))]

    async def list_workers(self):
        return [WorkerInfo("w1", "h", 1, ("a/x",), times.now(),
                           times.now() - timedelta(seconds=3))]


class FakeOutbox:
    async def backlog(self):
        return {"pending": 1, "failed": 4}


class FakeStore:
    predictions = FakePredictions()
    runs = FakeRuns()
    outbox = FakeOutbox()


def samples(text: bytes) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_what_the_process_saw_and_what_the_store_knows():
    metrics = Metrics()
    created = times.now()
    p = Prediction(id=ids.prediction_id(), account_id=1, model="a/x", version="v", input={},
                   status=Status.PROCESSING, created_at=created, base_url="",
                   stream_token="t", started_at=created + timedelta(seconds=2))
    metrics.status_changed(p)
    p.status, p.completed_at = Status.SUCCEEDED, created + timedelta(seconds=7)
    metrics.status_changed(p)
    delivery = Delivery(id="d", prediction_id=p.id, account_id=1,
                        event=WebhookEvent.COMPLETED, url="https://x", payload=b"",
                        created_at=created)
    metrics.webhook_attempted(delivery, Attempt(1, created, 5, 500, "HTTP 500"),
                              DeliveryState.PENDING)
    metrics.webhook_attempted(delivery, Attempt(2, created, 5, 200, None),
                              DeliveryState.DELIVERED)
    found = samples(await metrics.render(FakeStore()))
    assert found[("replicast_prediction_wait_seconds_sum", (("model", "a/x"),))] == 2
    assert found[("replicast_prediction_run_seconds_sum",
                  (("model", "a/x"), ("status", "succeeded")))] == 5
    assert found[("replicast_predictions_finished_total",
                  (("model", "a/x"), ("status", "succeeded")))] == 1
    assert found[("replicast_webhook_attempts_total", (("outcome", "retrying"),))] == 1
    assert found[("replicast_webhook_attempts_total", (("outcome", "delivered"),))] == 1
    assert found[("replicast_predictions", (("model", "a/x"), ("status", "starting")))] == 2
    assert found[("replicast_queue_depth", (("model", "a/x"),))] == 2
    assert 9 < found[("replicast_queue_oldest_age_seconds", (("model", "a/x"),))] < 12
    assert found[("replicast_webhook_deliveries", (("state", "failed"),))] == 4
    assert found[("replicast_webhook_deliveries", (("state", "delivered"),))] == 0
    age = found[("replicast_worker_heartbeat_age_seconds", (("host", "h"), ("worker", "w1")))]
    assert 2 < age < 5



async def test_the_health_of_the_models_this_process_runs():
    from dataclasses import replace

    from replicast.models.base import Health
    from tests.support.harness import FunctionRunner, model

    async def nothing(context, inputs):
        return None

    class Checked(FunctionRunner):
        def __init__(self, found):
            super().__init__(nothing)
            self.found = found

        def health(self):
            return self.found

    models = [replace(model("a/well", nothing), runner=Checked(Health())),
              replace(model("a/ill", nothing), runner=Checked(Health("Healthcheck failed"))),
              replace(model("a/loading", nothing), runner=Checked(None)),
              model("a/builtin", nothing)]
    found = samples(await Metrics().render(FakeStore(), models))
    assert found[("replicast_model_healthy", (("model", "a/well"),))] == 1
    assert found[("replicast_model_healthy", (("model", "a/ill"),))] == 0
    shown = {dict(labels)["model"] for name, labels in found if name == "replicast_model_healthy"}
    assert shown == {"a/well", "a/ill"}  # not one setting up, nor one with no check
