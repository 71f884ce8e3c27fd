from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from replicast.errors import ModelError
from replicast.predictions.status import Status
from replicast.worker import outcome, supervisor
from tests.support.harness import Harness, model


async def ok(context, inputs):
    context.log("working\n")
    return f"got {inputs['value']}"


async def fails(context, inputs):
    context.log("about to fail\n")
    raise ModelError("clear message")


async def crashes(context, inputs):
    raise ZeroDivisionError("boom")


async def emits(context, inputs):
    for token in ["a", " b", " c"]:
        await context.emit(token)
        context.log(f"emitted {token!r}\n")
    return None


started = asyncio.Event()


async def hangs(context, inputs):
    context.log("started\n")
    started.set()
    await asyncio.sleep(3600)


async def not_json(context, inputs):
    return object()


MODELS = [model("t/ok", ok), model("t/fails", fails), model("t/crashes", crashes),
          model("t/emits", emits), model("t/hangs", hangs), model("t/notjson", not_json)]


@pytest.fixture
async def harness(tmp_path):
    started.clear()
    h = await Harness(tmp_path, MODELS, predict_timeout=30).open()
    yield h
    await h.close()


async def test_success_records_output_logs_and_metrics(harness):
    p = await harness.create("t/ok", wait=5, input={"value": "x"})
    assert p.status is Status.SUCCEEDED
    assert p.output == "got x" and p.logs == "working\n" and p.error is None
    assert p.started_at is not None and p.completed_at >= p.started_at >= p.created_at
    assert set(p.metrics) == {"predict_time", "total_time"}
    assert p.metrics["total_time"] >= p.metrics["predict_time"] >= 0
    assert p.attempt == 1


async def test_model_error_fails_with_its_message(harness):
    p = await harness.create("t/fails", wait=5)
    assert p.status is Status.FAILED and p.error == "clear message"
    assert p.logs == "about to fail\n" and p.output is None


async def test_unexpected_exception_fails_with_traceback_in_logs(harness):
    p = await harness.create("t/crashes", wait=5)
    assert p.status is Status.FAILED and p.error == "ZeroDivisionError: boom"
    assert "Traceback" in p.logs and "ZeroDivisionError" in p.logs


async def test_emitted_items_become_the_output(harness):
    p = await harness.create("t/emits", wait=5)
    assert p.status is Status.SUCCEEDED and p.output == ["a", " b", " c"]
    assert p.logs == "emitted 'a'\nemitted ' b'\nemitted ' c'\n"


async def test_output_that_is_not_json_fails_clearly(harness):
    p = await harness.create("t/notjson", wait=5)
    assert p.status is Status.FAILED and "not JSON" in p.error


async def test_unknown_inputs_are_noted_in_the_logs(harness):
    p = await harness.create("t/ok", wait=5, input={"value": "x", "extra": 1})
    assert p.status is Status.SUCCEEDED
    assert "Ignoring input 'extra'" in p.logs


async def test_cancel_stops_a_running_model(harness):
    p = await harness.create("t/hangs")
    await asyncio.wait_for(started.wait(), 5)
    canceled = await harness.service.cancel(harness.account, p.id)
    assert canceled.status is Status.CANCELED
    assert "predict_time" in canceled.metrics
    # The slot is free again: the next prediction of the model runs.
    started.clear()
    second = await harness.create("t/hangs")
    await asyncio.wait_for(started.wait(), 5)
    await harness.service.cancel(harness.account, second.id)


async def test_cancel_before_start_never_runs(harness):
    await harness.worker.stop(0)  # nothing consumes the queue
    p = await harness.create("t/ok")
    canceled = await harness.service.cancel(harness.account, p.id)
    assert canceled.status is Status.CANCELED and canceled.started_at is None
    assert "predict_time" not in canceled.metrics and "total_time" in canceled.metrics


async def test_cancel_of_a_finished_prediction_changes_nothing(harness):
    p = await harness.create("t/ok", wait=5)
    assert await harness.service.cancel(harness.account, p.id) == p


async def test_timeout_fails_the_prediction(tmp_path):
    h = await Harness(tmp_path, MODELS, predict_timeout=0.2).open()
    try:
        p = await h.create("t/hangs", wait=5)
        assert p.status is Status.FAILED
        assert p.error == "Prediction timed out after running for 0.2 seconds"
    finally:
        await h.close()


async def test_deadline_before_start_aborts(harness):
    await harness.worker.stop(0)
    p = await harness.create("t/ok", cancel_after=timedelta(milliseconds=100))
    assert p.deadline == p.created_at + timedelta(milliseconds=100)
    done = await harness.until(p.id, lambda q: q.terminal)
    assert done.status is Status.ABORTED and done.started_at is None


async def test_deadline_while_running_cancels(harness):
    p = await harness.create("t/hangs", cancel_after=timedelta(milliseconds=300))
    done = await harness.until(p.id, lambda q: q.terminal)
    assert done.status is Status.CANCELED and done.started_at is not None
    assert "Cancel-After deadline" in done.logs


async def test_shutdown_puts_a_running_prediction_back_in_the_queue(tmp_path):
    h = await Harness(tmp_path, MODELS).open()
    p = await h.create("t/hangs")
    await asyncio.wait_for(started.wait(), 5)
    await h.close(grace=0.05)
    again = Harness(tmp_path, MODELS)
    await again.store.open()
    stored = await again.store.predictions.get(p.id)
    assert stored.status is Status.STARTING and stored.attempt == 1
    assert "it will run again" in stored.logs
    await again.store.close()


async def test_restart_resumes_queued_and_interrupted_work(tmp_path):
    first = await Harness(tmp_path, MODELS).open(worker=False)
    queued = await first.create("t/ok", input={"value": "q"})
    interrupted = await first.create("t/ok", input={"value": "i"})
    await first.lifecycle.start(interrupted.id, "gone", 30)
    exhausted = await first.create("t/ok")
    for attempt in range(1, 4):  # interrupted three times already
        moved = await first.lifecycle.start(exhausted.id, "gone", 30)
        assert moved is not None and moved.attempt == attempt
        if attempt < 3:
            await first.lifecycle.requeue(moved, "interrupted\n")
    await first.close()

    second = await Harness(tmp_path, MODELS, max_attempts=3).open()
    try:
        assert (await second.until(queued.id, lambda q: q.terminal)).output == "got q"
        resumed = await second.until(interrupted.id, lambda q: q.terminal)
        assert resumed.status is Status.SUCCEEDED and resumed.attempt == 2
        assert resumed.logs.startswith("Replicast stopped while this prediction was running")
        gave_up = await second.until(exhausted.id, lambda q: q.terminal)
        assert gave_up.status is Status.FAILED and "not run again" in gave_up.error
    finally:
        await second.close()


async def test_predictions_of_unknown_models_fail_at_restart(tmp_path):
    first = await Harness(tmp_path, MODELS).open(worker=False)
    p = await first.create("t/ok")
    await first.close()
    second = await Harness(tmp_path, [model("t/other", ok)]).open()
    try:
        failed = await second.until(p.id, lambda q: q.terminal)
        assert failed.status is Status.FAILED and "no longer served" in failed.error
    finally:
        await second.close()


chatty_started = asyncio.Event()


async def chatty(context, inputs):
    for i in range(1000):
        context.log(f"line {i}\n")
        await context.emit(f"t{i}")
        if i == 2:
            chatty_started.set()
        await asyncio.sleep(0.01)


async def test_a_cancel_keeps_everything_the_run_produced(tmp_path):
    chatty_started.clear()
    h = await Harness(tmp_path, [model("t/chatty", chatty)]).open()
    try:
        p = await h.create("t/chatty")
        await asyncio.wait_for(chatty_started.wait(), 5)
        async with h.broker.subscribe(p.id) as subscription:
            announced = []
            while len(announced) < 5:
                event = await subscription.next(2)
                if event.kind.value == "progress":
                    announced += event.data.items
        canceled = await h.service.cancel(h.account, p.id)
        assert canceled.status is Status.CANCELED
        # Nothing announced to streams is missing from the stored prediction.
        assert canceled.output == [f"t{i}" for i in range(len(canceled.output))]
        assert set(announced) <= set(canceled.output)
        lines = canceled.logs.splitlines()
        assert lines == [f"line {i}" for i in range(len(lines))]
        assert len(canceled.output) == len(lines)
    finally:
        await h.close()


async def test_a_deadline_note_comes_after_the_run_s_own_logs(tmp_path):
    chatty_started.clear()
    h = await Harness(tmp_path, [model("t/chatty", chatty)]).open()
    try:
        p = await h.create("t/chatty", cancel_after=timedelta(milliseconds=300))
        done = await h.until(p.id, lambda q: q.terminal)
        assert done.status is Status.CANCELED
        *lines, last = done.logs.splitlines()
        assert last == "Canceled: the prediction reached its Cancel-After deadline."
        assert lines == [f"line {i}" for i in range(len(lines))] and lines
    finally:
        await h.close()


async def test_a_running_prediction_nobody_runs_is_canceled_after_a_grace(tmp_path,
                                                                           monkeypatch):
    from replicast.predictions import lifecycle

    monkeypatch.setattr(lifecycle, "CANCEL_GRACE", 0.2)
    h = await Harness(tmp_path, MODELS).open(worker=False)
    try:
        p = await h.create("t/ok")
        await h.lifecycle.start(p.id, "gone", 30)  # as if a worker had taken it, then vanished
        canceled = await h.service.cancel(h.account, p.id)
        assert canceled.status is Status.CANCELED and "predict_time" in canceled.metrics
    finally:
        await h.close()


async def test_routed_models_served_later_are_reported_with_the_worker(harness):
    async def routed_run(context, inputs):
        return "routed"

    routed = model("up/routed", routed_run, concurrency=1)
    harness.worker.routed.serve(routed)
    await harness.worker.leases.heartbeat()
    (reported,) = await harness.store.runs.list_workers()
    assert "up/routed" in reported.models
    assert {m.full_name for m in harness.worker.models} <= set(reported.models)


async def test_models_served_by_one_runner_share_its_slots(tmp_path):
    from dataclasses import replace

    running, most = 0, 0

    async def counts(context, inputs):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        return "done"

    first = model("t/first", counts, concurrency=2)
    second = replace(model("t/second", counts), runner=first.runner)  # one pipeline, two names
    h = await Harness(tmp_path, [first, second], predict_timeout=30).open()
    try:
        made = [await h.create(name) for name in ("t/first", "t/second") * 4]
        for p in made:
            done = await h.until(p.id, lambda current: current.status.terminal)
            assert done.status is Status.SUCCEEDED
    finally:
        await h.close()
    assert most == 2


async def test_a_run_that_returns_is_recorded_after_one_turn_of_the_loop(tmp_path, monkeypatch):
    # The run's own task ends as it returns; its supervisor wakes in the next turn, with
    # nothing between (no callbacks handing the end on from one future to another).
    turns: list[int] = []
    counted = {"turns": 0}

    def count() -> None:
        counted["turns"] += 1
        if counted["turns"] < 50:
            asyncio.get_running_loop().call_soon(count)

    async def returns_later(context, inputs):
        await asyncio.sleep(0)  # a run that waits once: the rest of it is a task
        counted["turns"] = 0
        asyncio.get_running_loop().call_soon(count)
        return "done"

    record = outcome.record

    async def noted(store, run, ending):
        turns.append(counted["turns"])
        return await record(store, run, ending)

    monkeypatch.setattr(outcome, "record", noted)
    harness = await Harness(tmp_path, [model("t/later", returns_later)]).open()
    try:
        done = await harness.create("t/later", wait=5)
        assert done.status is Status.SUCCEEDED and done.output == "done"
        assert turns == [1]
    finally:
        await harness.close()


async def test_no_other_consumer_takes_its_turn_before_a_synchronous_create_is_answered(
        tmp_path):
    # The slot a run leaves goes to the next consumer once the outcome is recorded and the
    # create has had its turn; woken as the model returned, it went first.
    harness = await Harness(tmp_path, [model("t/ok", ok, concurrency=1)]).open()
    try:
        await harness.create("t/ok", wait=5, input={"value": "warm"})
        for _ in range(20):
            await asyncio.sleep(0)
        assert harness.broker.consumer_waits("t/ok")
        done = await harness.create("t/ok", wait=5, input={"value": "a"})
        assert done.status is Status.SUCCEEDED
        assert not harness.broker.consumer_waits("t/ok")  # nobody has taken a turn yet
        for _ in range(20):
            await asyncio.sleep(0)
        assert harness.broker.consumer_waits("t/ok")  # and then one waits for the next
        again = await harness.create("t/ok", wait=5, input={"value": "b"})
        assert again.output == "got b" and again.attempt == 1
    finally:
        await harness.close()


async def test_a_run_that_ignores_its_cancel_is_recorded_and_keeps_its_slot_until_it_ends(
        tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "_CANCEL_GRACE", 0.1)
    let_go = asyncio.Event()

    async def stubborn(context, inputs):
        if inputs["value"] != "stubborn":
            return f"got {inputs['value']}"
        while not let_go.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # every cancel, ignored
                await let_go.wait()
        return "late"

    harness = await Harness(tmp_path, [model("t/stubborn", stubborn, concurrency=1)],
                            predict_timeout=0.2).open()
    try:
        failed = await asyncio.wait_for(
            harness.create("t/stubborn", wait=5, input={"value": "stubborn"}), 3)
        assert failed.status is Status.FAILED and "timed out" in failed.error
        queued = await harness.create("t/stubborn", input={"value": "next"})
        await asyncio.sleep(0.3)  # the stubborn run still holds the one slot
        waiting = await harness.store.predictions.get(queued.id)
        assert waiting.status is Status.STARTING
        let_go.set()
        done = await harness.until(queued.id, lambda p: p.terminal)
        assert done.status is Status.SUCCEEDED and done.output == "got next"
    finally:
        let_go.set()
        await harness.close()
