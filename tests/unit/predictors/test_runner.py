"""``PredictorRunner`` with real predictor processes, without a server around it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from replicast.errors import ModelError
from replicast.input_files import file_name, safe_name
from replicast.models.base import Model
from replicast.models.file_inputs import file_inputs
from replicast.models.schema import cog_openapi
from replicast.predictors.process import exit_reason
from replicast.predictors.runner import PredictorRunner
from replicast.predictors.spec import predictor_spec
from replicast.predictors.state import IllegalTransition, State, check_transition
from tests.support.context import RecordingContext

PREDICTORS = Path(__file__).parents[2] / "predictors"


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def runner(attribute: str, file: str = "lifecycle.py", **options) -> PredictorRunner:
    spec = predictor_spec(f"test/{attribute.lower()}", f"{PREDICTORS / file}:{attribute}")
    return PredictorRunner(spec, setup_timeout=options.pop("setup_timeout", 30), **options)


async def test_setup_that_takes_too_long_is_stopped_and_marked_failed():
    slow = runner("SlowSetup", setup_timeout=2)  # its setup takes 3 s
    try:
        description = await slow.start()
        assert description.schema is not None  # loading was quick; setup is not
        await asyncio.wait_for(slow.wait_ready(), 10)
        report = slow.setup_report()
        assert slow.state is State.FAILED and report["status"] == "failed"
        assert report["error"] == "Setup did not finish within 2 seconds"
        assert report["logs"] == "warming up\n"
        with pytest.raises(ModelError, match="setup failed: Setup did not finish"):
            await slow.predict(RecordingContext(), {})
    finally:
        await slow.close()


async def test_describe_only_reports_the_schema_and_runs_nothing():
    describer = runner("Chatty", describe_only=True, setup_timeout=1)
    try:
        description = await describer.start()
        assert description.schema["components"]["schemas"]["Input"]["properties"]["lines"][
            "default"] == 3
        assert description.description == "Logs every way a model can, and records metrics."
        process = describer._child.process
        assert await asyncio.wait_for(process.wait(), 10) == 0
        await asyncio.sleep(1.2)  # past its setup timeout: nothing is reported failed
        assert describer.setup_report() is None and describer.state is State.DESCRIBED
    finally:
        await describer.close()


async def test_logs_and_items_keep_their_order():
    tokens = runner("Tokens", file="iterators.py")
    await tokens.start()
    try:
        seen: list[tuple[str, str]] = []

        class Context(RecordingContext):
            def log(self, text):
                if seen and seen[-1][0] == "log":  # text may come in several pieces
                    seen[-1] = ("log", seen[-1][1] + text)
                else:
                    seen.append(("log", text))

            async def emit(self, item):
                seen.append(("item", item))

        for _ in range(20):  # once was flaky; the order is now the child's, always
            seen.clear()
            output = await tokens.predict(Context(), {"prompt": "a b c", "delay": 0.0})
            assert output == ["a", " b", " c"]
            assert seen == [("log", "token 0\n"), ("item", "a"), ("log", "token 1\n"),
                            ("item", " b"), ("log", "token 2\n"), ("item", " c")]
    finally:
        await tokens.close()


async def test_a_canceled_prediction_frees_the_runner_once_it_has_stopped():
    hangs = runner("Hangs")
    await hangs.start()
    try:
        context = RecordingContext()
        task = asyncio.create_task(hangs.predict(context, {"seconds": 3600.0}))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert hangs.state is State.WINDING_DOWN  # until the child has stopped it
        began = time.monotonic()
        assert await hangs.predict(RecordingContext(), {"seconds": 0.0}) == "woke up"
        assert time.monotonic() - began < 3
        assert context.log_text == "going to sleep\n" and hangs.state is State.READY
    finally:
        await hangs.close()


async def test_close_stops_a_busy_process():
    hangs = runner("Hangs")
    await hangs.start()
    task = asyncio.create_task(hangs.predict(RecordingContext(), {"seconds": 3600.0}))
    await asyncio.sleep(0.5)
    pid = hangs._child.pid
    await asyncio.wait_for(hangs.close(), 10)
    assert not alive(pid) and hangs.state is State.CLOSING
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_state_changes_follow_the_table():
    check_transition(State.READY, State.WINDING_DOWN)
    check_transition(State.FAILED, State.CLOSING)  # any state may close
    for old, new in [(State.FAILED, State.READY), (State.READY, State.DESCRIBING),
                     (State.CLOSING, State.CLOSING), (State.CLOSING, State.RESPAWNING)]:
        with pytest.raises(IllegalTransition):
            check_transition(old, new)


def test_unique_names():
    from replicast.input_files import unique

    used: set[str] = set()
    assert [unique(n, used) for n in ("a.png", "a.png", "a.png", "b")] == [
        "a.png", "a-1.png", "a-2.png", "b"]


def test_file_names_for_downloaded_inputs():
    assert file_name("https://x.test/a/photo%20one.JPG?x=1") == "photo_one.JPG"
    assert file_name("https://x.test/") == "input"
    assert file_name("https://x.test/..") == "input"
    assert file_name("data:image/png;base64,AAAA") == "input.png"
    assert file_name("data:;base64,AAAA") == "input"


def test_uploaded_names_are_made_safe_for_the_local_folder():
    assert safe_name("holiday photo.jpg") == "holiday_photo.jpg"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_name(".hidden") == "input.hidden"
    assert safe_name("..") == "input" and safe_name("") == "input"
    long = safe_name("a" * 300 + ".txt")
    assert len(long) == 100 and long.endswith(".txt")
    assert safe_name("照片.png") == "input.png" and safe_name(".png") == "input.png"
    assert safe_name("résumé final.PDF") == "r_sum_final.PDF"
    assert safe_name("archive.tar.gz") == "archive.tar.gz"


def test_which_inputs_are_files():
    from replicast.models.schema import InputField

    schema = cog_openapi([
        InputField("image", "string", format="uri"),
        InputField("images", "array", items={"type": "string", "format": "uri"}),
        InputField("words", "array", items={"type": "string"}),
        InputField("prompt", "string"),
    ], {})
    assert file_inputs(schema) == {"image": False, "images": True}


def test_exit_reasons():
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-11) == "was killed by SIGSEGV"
    assert exit_reason(-200) == "was killed by signal 200"


def test_secret_inputs_are_split_from_what_is_shown():
    from datetime import UTC, datetime

    from replicast.models.schema import InputField

    schema = cog_openapi([InputField("token", "string", format="password", nullable=True,
                                     extra={"x-cog-secret": True}),
                          InputField("prompt", "string")], {})
    model = Model("me", "m", "", schema, runner("Chatty"), datetime.now(UTC))
    assert model.secret_inputs == frozenset({"token"})
    assert model.split_secrets({"prompt": "p", "token": "t"}) == (
        {"prompt": "p", "token": "**********"}, {"token": "t"})
    assert model.split_secrets({"prompt": "p"}) == ({"prompt": "p"}, None)
    assert model.split_secrets({"prompt": "p", "token": None}) == (
        {"prompt": "p", "token": None}, None)


async def test_a_message_too_long_fails_the_prediction_and_the_process_restarts(monkeypatch):
    from replicast.predictors import process

    monkeypatch.setattr(process, "MAX_MESSAGE_BYTES", 1 << 20)
    big = runner("Big", file="outputs.py")
    await big.start()
    try:
        pid = big._child.pid
        with pytest.raises(ModelError, match="while running this prediction"):
            await asyncio.wait_for(big.predict(RecordingContext(), {"size": 2 << 20}), 10)
        assert await asyncio.wait_for(big.predict(RecordingContext(), {"size": 3}), 20) == "xxx"
        assert big._child.pid != pid and big.setup_report()["restarts"] == 1
    finally:
        await big.close()


async def test_an_output_json_cannot_carry_fails_cleanly():
    big = runner("Big", file="outputs.py")
    await big.start()
    try:
        pid = big._child.pid
        with pytest.raises(ModelError, match="The output cannot be sent as JSON"):
            await big.predict(RecordingContext(), {"huge_int": True})
        assert await big.predict(RecordingContext(), {"size": 2}) == "xx"
        assert big._child.pid == pid  # the process carried on
    finally:
        await big.close()


async def test_a_death_is_seen_even_when_a_forked_child_holds_the_pipes():
    forks = runner("Forks")
    await forks.start()
    try:
        helper = await forks.predict(RecordingContext(), {})
        began = time.monotonic()
        with pytest.raises(ModelError, match="exited with code 9"):
            await asyncio.wait_for(forks.predict(RecordingContext(), {"die": True}), 10)
        assert time.monotonic() - began < 4
        # What the dead process started went with it; the new process has its own.
        await asyncio.sleep(0.2)
        assert not alive(helper)
        assert await asyncio.wait_for(forks.predict(RecordingContext(), {}), 20) != helper
    finally:
        await forks.close()


async def test_close_takes_the_processes_a_predictor_started():
    forks = runner("Forks")
    await forks.start()
    helper = await forks.predict(RecordingContext(), {})
    await forks.close()
    await asyncio.sleep(0.2)
    assert not alive(helper)


async def test_a_failure_on_the_server_side_stops_the_run_in_the_child():
    bad = runner("BadItem", file="outputs.py")
    await bad.start()
    try:
        with pytest.raises(ModelError, match="which cannot be read"):
            await asyncio.wait_for(bad.predict(RecordingContext(), {}), 10)
        # The child's generator was stopped: the next prediction starts at once.
        second = asyncio.create_task(bad.predict(RecordingContext(), {}))
        with pytest.raises(ModelError, match="which cannot be read"):
            await asyncio.wait_for(second, 4)
        assert bad._child.running
    finally:
        await bad.close()


async def test_a_predictor_that_redirects_its_stdout_still_answers():
    redirects = runner("Redirects")
    await redirects.start()
    try:
        assert await asyncio.wait_for(redirects.predict(RecordingContext(), {}), 10) == \
            "still answered"
    finally:
        await redirects.close()


async def test_a_process_that_keeps_dying_is_left_failed():
    dies = runner("DiesSoon", restart_pause=0.05)
    await dies.start()
    try:
        async def until_given_up() -> str:
            while True:  # each try waits for a setup, then runs or meets the death
                try:
                    await dies.predict(RecordingContext(), {})
                except ModelError as exc:
                    if "setup failed" in str(exc):
                        return str(exc)
                # A refusal can come without waiting (the process is being restarted):
                # yield, or the restart this test waits for never gets to run.
                await asyncio.sleep(0.01)

        error = await asyncio.wait_for(until_given_up(), 30)
        assert "setup failed: The predictor's process died 5 times in a row" in error
        report = dies.setup_report()
        assert report["status"] == "failed" and report["restarts"] == 4
        assert dies.state is State.FAILED
    finally:
        await dies.close()


async def test_what_setup_loaded_is_kept_out_of_full_collections():
    # A full pass of the collector walks every object it tracks: those a setup loaded
    # (a model's weights, its modules) would be walked again between predictions.
    collected = runner("Collected")
    await collected.start()
    try:
        assert await asyncio.wait_for(collected.predict(RecordingContext(), {}), 20) > 10000
    finally:
        await collected.close()


async def test_the_predictors_timed_waits_end_when_due():
    # Linux's default timer slack (50 µs) let a predictor's time.sleep(0) take ~85 µs.
    slack = runner("TimerSlack")
    await slack.start()
    try:
        own, started = await asyncio.wait_for(slack.predict(RecordingContext(), {}), 20)
        assert own == 1 and started == 1
    finally:
        await slack.close()
