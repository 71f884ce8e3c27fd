"""``PredictorRunner`` with real predictor processes, without a server around it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from replicast.errors import ModelError
from replicast.models.base import Model
from replicast.models.schema import cog_openapi
from replicast.predictors.runner import PredictorRunner, exit_reason, file_inputs, file_name
from replicast.predictors.spec import predictor_spec
from tests.support.context import RecordingContext

PREDICTORS = Path(__file__).parents[2] / "predictors"


def runner(attribute: str, file: str = "lifecycle.py", **options) -> PredictorRunner:
    spec = predictor_spec(f"test/{attribute.lower()}", f"{PREDICTORS / file}:{attribute}")
    return PredictorRunner(spec, setup_timeout=options.pop("setup_timeout", 30), **options)


async def test_setup_that_takes_too_long_is_stopped_and_marked_failed():
    slow = runner("SlowSetup", setup_timeout=1)
    try:
        description = await slow.start()
        assert description.schema is not None  # loading was quick; setup is not
        began = time.monotonic()
        await asyncio.wait_for(slow.wait_ready(), 5)
        assert time.monotonic() - began < 2
        report = slow.setup_report()
        assert report["status"] == "failed"
        assert report["error"] == "Setup did not finish within 1 seconds"
        assert report["logs"] == "warming up\n"
        with pytest.raises(ModelError, match="setup failed: Setup did not finish"):
            await slow.predict(RecordingContext(), {})
    finally:
        await slow.close()


async def test_describe_only_reports_the_schema_and_runs_nothing():
    describer = runner("Chatty", describe_only=True)
    try:
        description = await describer.start()
        assert description.schema["components"]["schemas"]["Input"]["properties"]["lines"][
            "default"] == 3
        assert description.description == "Logs every way a model can, and records metrics."
        process = describer._child.process
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        await describer.close()


async def test_logs_and_items_keep_their_order():
    tokens = runner("Tokens", file="iterators.py")
    await tokens.start()
    try:
        seen: list[tuple[str, str]] = []

        class Context(RecordingContext):
            def log(self, text):
                seen.append(("log", text))

            async def emit(self, item):
                seen.append(("item", item))

        output = await tokens.predict(Context(), {"prompt": "a b", "delay": 0.0})
        assert output == ["a", " b"]
        assert seen == [("log", "token 0\n"), ("item", "a"), ("log", "token 1\n"),
                        ("item", " b")]
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
        began = time.monotonic()
        assert await hangs.predict(RecordingContext(), {"seconds": 0.0}) == "woke up"
        assert time.monotonic() - began < 3
        assert context.log_text == "going to sleep\n"
    finally:
        await hangs.close()


async def test_close_stops_a_busy_process():
    hangs = runner("Hangs")
    await hangs.start()
    task = asyncio.create_task(hangs.predict(RecordingContext(), {"seconds": 3600.0}))
    await asyncio.sleep(0.5)
    pid = hangs._child.pid
    await asyncio.wait_for(hangs.close(), 10)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_file_names_for_downloaded_inputs():
    assert file_name("https://x.test/a/photo%20one.JPG?x=1") == "photo_one.JPG"
    assert file_name("https://x.test/") == "input"
    assert file_name("https://x.test/..") == "input"
    assert file_name("data:image/png;base64,AAAA") == "input.png"
    assert file_name("data:;base64,AAAA") == "input"


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
