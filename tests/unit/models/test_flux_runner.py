"""The FLUX runner's scheduling, with the pipeline replaced by a timed stand-in."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from PIL import Image

from replicast.models import flux, flux_spec
from replicast.models.validation import InputValidator
from tests.support.context import RecordingContext


def inputs(**given):
    values, _ = InputValidator(flux_spec.schemas()[flux_spec.SCHNELL]).validate(
        {"prompt": "p", "megapixels": "0.25", **given})
    return values


async def test_encoding_overlaps_the_next_predictions_denoising(monkeypatch):
    timeline: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def note(what, who):
        with lock:
            timeline.append((what, who, time.monotonic()))

    runner = flux.FluxRunner(flux_spec.SCHNELL, Path("/nonexistent"), load_at_startup=False)
    runner._pipeline = object()  # loaded, as far as the runner knows

    def generate(call, context):
        note("denoise-start", call["prompt"])
        time.sleep(0.2)
        note("denoise-end", call["prompt"])
        return [Image.new("RGB", (call["width"], call["height"]))]

    def encode(image, fmt, quality):
        note("encode-start", "")
        time.sleep(0.3)
        note("encode-end", "")
        return b"x"

    monkeypatch.setattr(runner, "_generate", generate)
    monkeypatch.setattr(flux, "encode_image", encode)
    assert runner.concurrency >= 2
    await asyncio.gather(runner.predict(RecordingContext(), inputs(prompt="a", seed=1)),
                         runner.predict(RecordingContext(), inputs(prompt="b", seed=1)))
    events = {(what, who): at for what, who, at in timeline if who in "ab"}
    first, second = sorted("ab", key=lambda w: events[("denoise-start", w)])
    # One pipeline call at a time...
    assert events[("denoise-start", second)] >= events[("denoise-end", first)]
    # ...but the second denoises while the first one's images are encoded.
    first_encode_end = min(at for what, _, at in timeline if what == "encode-end")
    assert events[("denoise-start", second)] < first_encode_end


async def test_a_cancel_between_steps_ends_the_prediction_as_canceled(monkeypatch):
    runner = flux.FluxRunner(flux_spec.SCHNELL, Path("/nonexistent"), load_at_startup=False)
    runner._pipeline = object()
    context = RecordingContext()

    def generate(call, ctx):
        ctx.cancel_event.set()
        raise flux._Canceled()

    monkeypatch.setattr(runner, "_generate", generate)
    try:
        await runner.predict(context, inputs(seed=1))
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the prediction was not canceled")
    assert context.saved == {}
