"""What ``GET /metrics`` tells Prometheus.

Two kinds of figure. What this process saw happen (how long predictions waited
and ran, how they ended, webhook attempts) is counted as it happens, in histograms
and counters per process: scrape every process. What the store knows (predictions
by model and status, the queues, the webhook outbox, the workers' heartbeats) is
read at scrape time and is the same from any process. The health of the models this
process's worker runs is read at scrape time too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from replicast import times
from replicast.models.base import Health, Model
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.base import Store
from replicast.store.runs import QueueStats, WorkerInfo
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
            600, 1800)


@dataclass
class _Snapshot:
    """What the store said at the last scrape."""

    statuses: dict[tuple[str, str], int] = field(default_factory=dict)
    queues: list[QueueStats] = field(default_factory=list)
    webhooks: dict[str, int] = field(default_factory=dict)
    workers: list[WorkerInfo] = field(default_factory=list)
    at: datetime = field(default_factory=times.now)


class _StoreCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = _Snapshot()

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        predictions = GaugeMetricFamily("replicast_predictions",
                                        "Predictions in the store, by model and status.",
                                        labels=["model", "status"])
        for (model, status), count in sorted(s.statuses.items()):
            predictions.add_metric([model, status], count)
        yield predictions
        depth = GaugeMetricFamily("replicast_queue_depth",
                                  "Predictions waiting to start, by model.", labels=["model"])
        age = GaugeMetricFamily("replicast_queue_oldest_age_seconds",
                                "How long the oldest waiting prediction has waited, by model.",
                                labels=["model"])
        for queue in s.queues:
            depth.add_metric([queue.model], queue.waiting)
            waited = 0.0 if queue.oldest_created_at is None else \
                (s.at - queue.oldest_created_at).total_seconds()
            age.add_metric([queue.model], max(0.0, waited))
        yield depth
        yield age
        deliveries = GaugeMetricFamily("replicast_webhook_deliveries",
                                       "Webhook deliveries in the outbox, by state.",
                                       labels=["state"])
        for state in DeliveryState:
            deliveries.add_metric([state.value], s.webhooks.get(state.value, 0))
        yield deliveries
        heartbeat = GaugeMetricFamily("replicast_worker_heartbeat_age_seconds",
                                      "Seconds since each worker last reported itself.",
                                      labels=["worker", "host"])
        for worker in s.workers:
            heartbeat.add_metric([worker.id, worker.host],
                                 max(0.0, (s.at - worker.heartbeat_at).total_seconds()))
        yield heartbeat


class _HealthCollector(Collector):
    def __init__(self) -> None:
        self.found: dict[str, Health] = {}

    def collect(self) -> Iterator[Metric]:
        healthy = GaugeMetricFamily(
            "replicast_model_healthy",
            "1 while a model this process runs passes its own health check (a predictor's "
            "healthcheck(), or it has none), 0 while it fails it; by model.",
            labels=["model"])
        for model, health in sorted(self.found.items()):
            healthy.add_metric([model], 1 if health.healthy else 0)
        yield healthy


class Metrics(LifecycleListener):
    """This process's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._wait = Histogram("replicast_prediction_wait_seconds",
                               "Seconds from creation to the start of the run, by model.",
                               ["model"], registry=self.registry, buckets=_SECONDS)
        self._run = Histogram("replicast_prediction_run_seconds",
                              "Seconds a run took, by model and how it ended.",
                              ["model", "status"], registry=self.registry, buckets=_SECONDS)
        self._finished = Counter("replicast_predictions_finished",
                                 "Predictions this process finished, by model and status.",
                                 ["model", "status"], registry=self.registry)
        self._attempts = Counter("replicast_webhook_attempts",
                                 "Webhook attempts this process made, by outcome.",
                                 ["outcome"], registry=self.registry)
        self._store = _StoreCollector()
        self.registry.register(self._store)
        self._health = _HealthCollector()
        self.registry.register(self._health)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def status_changed(self, p: Prediction) -> None:
        """Count a status change this process made."""
        if p.status is Status.PROCESSING and p.started_at is not None:
            self._labeled(self._wait, p.model).observe(
                max(0.0, (p.started_at - p.created_at).total_seconds()))
        elif p.terminal:
            self._labeled(self._finished, p.model, p.status.value).inc()
            if p.started_at is not None and p.completed_at is not None:
                self._labeled(self._run, p.model, p.status.value).observe(
                    max(0.0, (p.completed_at - p.started_at).total_seconds()))

    def _labeled(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: the lookup under its lock costs more than
        the count (labels are few: models and statuses)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def webhook_attempted(self, delivery: Delivery, attempt: Attempt,
                          state: DeliveryState) -> None:
        """Count a webhook attempt: delivered, retrying, or given up."""
        outcome = "delivered" if attempt.error is None else (
            "retrying" if state is DeliveryState.PENDING else "failed")
        self._attempts.labels(outcome).inc()

    async def render(self, store: Store, models: Iterable[Model] = ()) -> bytes:
        """The exposition text, with the store's figures and the health of ``models`` (those
        this process runs) read now."""
        snapshot = _Snapshot(await store.predictions.status_counts(),
                             await store.runs.queue_stats(), await store.outbox.backlog(),
                             await store.runs.list_workers())
        self._store.snapshot = snapshot
        self._health.found = {model.full_name: health for model in models
                              if (health := model.runner.health()) is not None}
        return generate_latest(self.registry)
