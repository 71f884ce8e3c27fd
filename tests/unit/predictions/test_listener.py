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


class Delivering(LifecycleListener):
    """Would deliver to every prediction, but says it delivers only to those with a
    webhook; notes the statuses it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def delivers(self, prediction):
        return prediction.webhook is not None

    def deliveries(self, prediction):
        self.asked.append((prediction.id, prediction.status.value))
        return []


async def test_a_run_ends_in_one_statement_where_no_listener_delivers(tmp_path):
    delivering = Delivering()
    h = await Harness(tmp_path, [model("t/ok", ok)], listeners=[delivering, StatusOnly()]
                      ).open(worker=False)
    statements: list[str] = []
    try:
        plain = await h.lifecycle.start((await h.create("t/ok")).id, "w", 30)
        hooked = await h.lifecycle.start(
            (await h.create("t/ok", webhook="https://example.com/hook")).id, "w", 30)
        h.store._db._inline.set_trace_callback(statements.append)
        await h.lifecycle.succeed(plain, "ok")
        assert {s.split()[0] for s in statements} == {"UPDATE"}  # no BEGIN, no COMMIT
        statements.clear()
        await h.lifecycle.succeed(hooked, "ok")  # asked, inside a transaction
        assert statements[0].startswith("BEGIN") and statements[-1] == "COMMIT"
    finally:
        h.store._db._inline.set_trace_callback(None)
        await h.close()
    # Without a copy to judge by (a queued start), every delivering listener is asked.
    assert delivering.asked == [(plain.id, "processing"), (hooked.id, "processing"),
                                (hooked.id, "succeeded")]
