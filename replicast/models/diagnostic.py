"""Small models for people writing and testing API clients.

- ``replicast/echo`` streams the prompt back token by token (a text iterator).
- ``replicast/fail`` always fails with a clear error.
- ``replicast/sleep`` runs for a while, reporting progress, and stops at once when canceled.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from replicast.errors import ModelError
from replicast.models.base import Model, RunContext, Runner
from replicast.models.progress import progress_line
from replicast.models.schema import InputField, cog_openapi, text_iterator_output

_TOKEN = re.compile(r"\s*\S+|\s+$")
_CREATED = datetime(2026, 11, 1, tzinfo=UTC)


class Echo(Runner):
    """Yields the prompt's words, each with its leading whitespace."""

    concurrency = 256

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        tokens = _TOKEN.findall(inputs["prompt"])
        delay = float(inputs["delay"])
        for index, token in enumerate(tokens):
            if index and delay:
                await asyncio.sleep(delay)
            await context.emit(f"{time.time():.6f} {token}" if inputs["timestamps"] else token)
        return None


class Fail(Runner):
    """Raises ``ModelError`` with the given message."""

    concurrency = 256

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        if inputs["seconds"]:
            await asyncio.sleep(float(inputs["seconds"]))
        context.log("replicast/fail is about to fail, as it always does\n")
        raise ModelError(inputs["message"])


class Sleep(Runner):
    """Sleeps in steps of at most a second, logging a progress line after each."""

    concurrency = 256

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        seconds = float(inputs["seconds"])
        steps = max(1, math.ceil(seconds))
        began = time.monotonic()
        context.log(progress_line(0, steps, 0.0))
        for step in range(1, steps + 1):
            await asyncio.sleep(seconds / steps)
            context.log(progress_line(step, steps, time.monotonic() - began))
        return f"Slept for {seconds:g} seconds"


def models() -> list[Model]:
    """The three diagnostic models."""
    echo = cog_openapi(
        [
            InputField("prompt", "string", "Text to send back, one token at a time"),
            InputField("delay", "number", "Seconds to wait between tokens", default=0.0,
                       minimum=0, maximum=5),
            InputField("timestamps", "boolean",
                       "Prefix each token with the server's Unix time when it was produced, "
                       "to measure how long tokens take to reach a client",
                       default=False),
        ],
        text_iterator_output(),
    )
    fail = cog_openapi(
        [
            InputField("message", "string", "The error message the prediction fails with",
                       default="This prediction failed on purpose: replicast/fail always fails."),
            InputField("seconds", "number", "Seconds to run before failing", default=0.0,
                       minimum=0, maximum=600),
        ],
        {"type": "string"},
    )
    sleep = cog_openapi(
        [InputField("seconds", "number", "How long to run, in seconds", default=1.0,
                    minimum=0, maximum=3600)],
        {"type": "string"},
    )
    return [
        Model("replicast", "echo", "Streams its prompt back, token by token", echo, Echo(),
              _CREATED),
        Model("replicast", "fail", "Always fails, with a clear error message", fail, Fail(),
              _CREATED),
        Model("replicast", "sleep", "Runs for the given number of seconds, logging progress",
              sleep, Sleep(), _CREATED),
    ]
