"""Listeners hear of every change ``Lifecycle`` makes, in the order they were given."""

from __future__ import annotations

from replicast.predictions.listener import LifecycleListener
from replicast.predictions.status import Status
from tests.support.harness import Harness, model


async def ok(context, inputs):
    return "ok"


class Recording(LifecycleListener):
    """Hears everything, and notes it under its name."""

    def __init__(self, name: str, heard: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.heard = heard

    def deliveries(self, prediction):
        self.heard.append((self.name, "deliveries", prediction.status.value))
        return []

    def status_changed(self, prediction):
        self.heard.append((self.name, "status", prediction.status.value))

    def progressed(self, prediction, *, output, logs):
        self.heard.append((self.name, "progressed", f"output={output} logs={logs}"))

    def ended_here(self, prediction):
        self.heard.append((self.name, "ended here", prediction.status.value))


class StatusOnly(LifecycleListener):
    """Overrides one hook: the others do nothing."""

    def __init__(self) -> None:
        self.statuses: list[Status] = []

    def status_changed(self, prediction):
        self.statuses.append(prediction.status)


async def test_listeners_hear_each_change_in_order(tmp_path):
    heard: list[tuple[str, str, str]] = []
    only = StatusOnly()
    listeners = [Recording("first", heard), Recording("second", heard), only]
    h = await Harness(tmp_path, [model("t/ok", ok)], listeners=listeners).open(worker=False)
    try:
        p = await h.create("t/ok")
        started = await h.lifecycle.start(p.id, "w", 30)
        assert await h.lifecycle.persist(started, "a line\n", logs_length=7, items_length=0)
        await h.lifecycle.succeed(started, "ok")
        second = await h.create("t/ok")
        await h.service.cancel(h.account, second.id)  # ended here, not by a run
    finally:
        await h.close()
    assert heard == [
        ("first", "deliveries", "processing"), ("second", "deliveries", "processing"),
        ("first", "status", "processing"), ("second", "status", "processing"),
        ("first", "progressed", "output=False logs=True"),
        ("second", "progressed", "output=False logs=True"),
        ("first", "deliveries", "succeeded"), ("second", "deliveries", "succeeded"),
        ("first", "status", "succeeded"), ("second", "status", "succeeded"),
        ("first", "deliveries", "canceled"), ("second", "deliveries", "canceled"),
        ("first", "status", "canceled"), ("second", "status", "canceled"),
        ("first", "ended here", "canceled"), ("second", "ended here", "canceled"),
    ]
    assert only.statuses == [Status.PROCESSING, Status.SUCCEEDED, Status.CANCELED]
