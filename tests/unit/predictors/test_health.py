"""A predictor's own ``healthcheck()``: called in its process (``HealthCheck``), asked
for by the server (``Questions``), and what ``PredictorRunner`` does with the answers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from replicast.models.base import Health
from replicast.predictors import health
from replicast.predictors.health import RETURNED_FALSE, HealthCheck, Questions, timed_out
from replicast.predictors.runner import PredictorRunner
from replicast.predictors.spec import predictor_spec
from replicast.predictors.state import (
    IllegalTransition,
    State,
    check_transition,
    health_json,
)
from tests.support.context import RecordingContext

HEALTH = Path(__file__).parents[2] / "predictors" / "health.py"


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


class bool_:  # numpy's name, which Cog takes for a bool
    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value


# the check, in the predictor's process


@pytest.mark.parametrize(("result", "error"), [
    (True, None), (None, None), (0, None), ("", None), (bool_(True), None),
    (False, RETURNED_FALSE), (bool_(False), RETURNED_FALSE)])
def test_only_false_fails_a_check_as_in_cog(loop, result, error):
    assert HealthCheck(lambda: result, loop).run(1.0) == error


def test_what_a_check_raises_comes_out_to_be_described(loop):
    def check():
        raise OSError("the disk is gone")

    with pytest.raises(OSError, match="the disk is gone"):
        HealthCheck(check, loop).run(1.0)
    assert health.raised("OSError: the disk is gone") == \
        "Healthcheck failed: OSError: the disk is gone"


def test_a_check_that_hangs_times_out_and_is_waited_for_not_called_again(loop):
    calls: list[int] = []
    go_on = threading.Event()

    def check():
        calls.append(1)
        go_on.wait(10)
        return True

    check_health = HealthCheck(check, loop)
    assert check_health.run(0.05) == timed_out(0.05) == \
        "Healthcheck failed: user-defined healthcheck timed out after 0.1 seconds"
    assert check_health.run(0.05) == timed_out(0.05)
    assert len(calls) == 1  # the call still running was waited for again
    go_on.set()
    assert check_health.run(5) is None and len(calls) == 1  # its own answer counts
    assert check_health.run(5) is None and len(calls) == 2


def test_an_async_check_runs_on_the_process_loop(loop):
    answers = iter([True, False])

    async def check():
        await asyncio.sleep(0)
        return next(answers)

    check_health = HealthCheck(check, loop)
    assert check_health.is_async
    assert check_health.run(1.0) is None
    assert check_health.run(1.0) == RETURNED_FALSE


def test_an_async_check_that_raises_or_hangs(loop):
    async def raises():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        HealthCheck(raises, loop).run(1.0)

    canceled = []

    async def hangs():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            canceled.append(True)
            raise

    assert HealthCheck(hangs, loop).run(0.05) == timed_out(0.05)
    assert canceled == [True]


def test_a_predictor_without_healthcheck_has_none():
    class Plain:
        def predict(self) -> str:
            return ""

    class Checked(Plain):
        def healthcheck(self) -> bool:
            return True

    assert health.healthcheck_of(Plain()) is None
    assert health.healthcheck_of(Checked()) is not None
    assert health.healthcheck_of(lambda: None) is None


# asking for it, on the server's side


async def test_an_answer_settles_the_question_it_answers():
    questions = Questions()
    sent: list[dict] = []
    asking = asyncio.ensure_future(questions.ask(sent.append, 1.0))
    await asyncio.sleep(0)
    assert sent == [{"type": "healthcheck", "id": 1, "timeout": 1.0}]
    assert questions.unanswered
    questions.answered({"type": "health", "id": 7, "error": None})  # not its question
    assert questions.unanswered and not asking.done()
    questions.answered({"type": "health", "id": 1, "error": "Healthcheck failed: x"})
    assert await asking == "Healthcheck failed: x" and not questions.unanswered


async def test_a_process_that_does_not_answer_fails_and_is_asked_nothing_until_it_does(
        monkeypatch):
    monkeypatch.setattr(health, "ANSWER_GRACE", 0.05)
    questions = Questions()
    assert await questions.ask(lambda message: None, 0.05) == (
        "Healthcheck failed: the predictor's process did not answer within 0.1 seconds")
    assert questions.unanswered
    questions.answered({"type": "health", "id": 1, "error": None})  # late
    assert not questions.unanswered


async def test_a_process_that_ends_ends_the_wait():
    questions = Questions()
    asking = asyncio.ensure_future(questions.ask(lambda message: None, 60))
    await asyncio.sleep(0)
    questions.forget()
    assert await asyncio.wait_for(asking, 1) is None and not questions.unanswered


# the runner's states


def test_health_state_changes_follow_the_table():
    for old, new in [(State.READY, State.CHECKING), (State.CHECKING, State.READY),
                     (State.CHECKING, State.UNHEALTHY), (State.UNHEALTHY, State.CHECKING),
                     (State.CHECKING, State.RESPAWNING), (State.UNHEALTHY, State.RESPAWNING),
                     (State.UNHEALTHY, State.FAILED), (State.UNHEALTHY, State.CLOSING)]:
        check_transition(old, new)
    for old, new in [(State.UNHEALTHY, State.READY), (State.UNHEALTHY, State.WINDING_DOWN),
                     (State.CHECKING, State.WINDING_DOWN), (State.SETTING_UP, State.CHECKING),
                     (State.WINDING_DOWN, State.CHECKING)]:
        with pytest.raises(IllegalTransition):
            check_transition(old, new)


def test_the_health_shown_with_the_setup():
    assert health_json(None) is None
    assert health_json(Health()) == {"status": "healthy", "error": None, "checked_at": None}
    from replicast import times

    when = times.parse_rfc3339("2026-01-02T03:04:05.000006Z")
    assert health_json(Health("Healthcheck failed: x", when)) == {
        "status": "unhealthy", "error": "Healthcheck failed: x",
        "checked_at": "2026-01-02T03:04:05.000006Z"}


def runner(attribute: str, **options) -> PredictorRunner:
    spec = predictor_spec(f"test/{attribute.lower()}", f"{HEALTH}:{attribute}")
    return PredictorRunner(spec, setup_timeout=30, **options)


async def until(condition, timeout: float = 10) -> None:
    """Wait for ``condition``, about what the runner found: it announces no check's answer."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def flags(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTH_FLAGS", str(tmp_path))
    return tmp_path


async def test_a_failing_check_holds_predictions_until_one_passes(flags):
    checked = runner("Predictor", health_interval=0.05, health_timeout=2)
    await checked.start()
    paused_watch: list[State] = []
    stop_watching = checked.on_pause(lambda: paused_watch.append(checked.state))
    try:
        await until(lambda: checked.health() is not None)
        assert checked.health().healthy and checked.health().checked_at is not None
        assert not paused_watch
        (flags / "sync").touch()
        await until(lambda: checked.state is State.UNHEALTHY)
        assert checked.health().error == RETURNED_FALSE
        assert checked.paused  # the worker leaves its queue alone
        assert paused_watch[:1] == [State.UNHEALTHY]  # told as it paused
        stop_watching()
        failed_at = checked.health().checked_at
        prediction = asyncio.ensure_future(checked.predict(RecordingContext(),
                                                             {"text": "x", "wait": 0.0}))
        await until(lambda: checked.health().checked_at > failed_at)  # checked again
        assert not prediction.done()
        (flags / "sync").unlink()
        assert await asyncio.wait_for(prediction, 10) == "echo x"
        assert checked.health().healthy and checked.state in (State.READY, State.CHECKING)
        assert not checked.paused
    finally:
        await checked.close()


async def test_no_check_runs_while_a_prediction_does(flags):
    checked = runner("Predictor", health_interval=0.02, health_timeout=2)
    await checked.start()
    try:
        await until(lambda: checked.health() is not None)
        context = RecordingContext()
        prediction = asyncio.ensure_future(checked.predict(context, {"text": "hi", "wait": 0.5}))
        await until(lambda: checked._current is not None)
        before = checked.health()
        assert await prediction == "echo hi"
        assert checked.health() is before  # the last result was kept
        assert "checking my health" not in context.log_text  # its prints are not the run's
        await until(lambda: checked.health() is not before)  # checks go on after it
    finally:
        await checked.close()


async def test_a_predictor_without_healthcheck_is_healthy_and_asked_nothing():
    plain = runner("NoHealthcheck", health_interval=0.01)
    await plain.start()
    try:
        assert await plain.predict(RecordingContext(), {"text": "x"}) == "plain x"
        assert plain.health() == Health() and plain.state is State.READY
        assert plain._questions._asked == 0
    finally:
        await plain.close()


async def test_a_process_whose_check_blocks_it_is_unhealthy_until_it_answers(monkeypatch):
    monkeypatch.setattr(health, "ANSWER_GRACE", 0.2)
    monkeypatch.setenv("HEALTH_BLOCK_SECONDS", "1")
    blocked = runner("AsyncBlocks", health_interval=0.05, health_timeout=0.1)
    await blocked.start()
    try:
        await until(lambda: blocked.health() is not None)
        assert blocked.state is State.UNHEALTHY and blocked._questions.unanswered
        assert blocked.health().error == (
            "Healthcheck failed: the predictor's process did not answer within 0.3 seconds")
        assert blocked._questions._asked == 1
        await until(lambda: blocked._questions._asked == 2)  # asked again once it answered
        assert blocked.state in (State.UNHEALTHY, State.CHECKING)  # a late answer is no pass
    finally:
        await blocked.close()
