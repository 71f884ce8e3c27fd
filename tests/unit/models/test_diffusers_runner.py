"""What the diffusers runners share (scheduling, cancellation), with the pipeline call
replaced by a timed stand-in: FLUX.1's runner and FLUX.2's alike."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from replicast.models import catalog, diffusers_runner, flux, flux2, flux_spec
from replicast.models.catalog import flux2 as flux2_spec
from replicast.models.validation import InputValidator
from tests.support.context import RecordingContext


def flux1_runner():
    def inputs(**given):
        values, _ = InputValidator(flux_spec.schemas()[flux_spec.SCHNELL]).validate(
            {"prompt": "p", "megapixels": "0.25", **given})
        return values

    return flux.FluxRunner(flux_spec.SCHNELL, Path("/nonexistent"), load_at_startup=False), inputs


def flux2_runner():
    def inputs(**given):
        values, _ = InputValidator(catalog.spec(flux2_spec.KLEIN_4B).openapi_schema()).validate(
            {"prompt": "p", "output_megapixels": "0.25", **given})
        return values

    return flux2.Flux2Runner(flux2_spec.KLEIN_4B, Path("/nonexistent"), size=flux2_spec.size,
                             load_at_startup=False), inputs


RUNNERS = pytest.mark.parametrize("make", [flux1_runner, flux2_runner], ids=["flux1", "flux2"])


@RUNNERS
async def test_encoding_overlaps_the_next_predictions_denoising(monkeypatch, make):
    timeline: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def note(what, who):
        with lock:
            timeline.append((what, who, time.monotonic()))

    runner, inputs = make()
    runner._loaded = True  # as far as the runner knows

    def denoise(pipeline, call, seed, steps, context, prepare=None, image_format="png",
                screened=True):
        note("denoise-start", call["prompt"])
        time.sleep(0.2)
        note("denoise-end", call["prompt"])
        return [Image.new("RGB", (call["width"], call["height"]))]

    def encode(image, fmt, quality):
        note("encode-start", "")
        time.sleep(0.3)
        note("encode-end", "")
        return b"x"

    monkeypatch.setattr(runner, "_denoise", denoise)
    monkeypatch.setattr(diffusers_runner, "encode_image", encode)
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


@RUNNERS
async def test_a_cancel_between_steps_ends_the_prediction_as_canceled(monkeypatch, make):
    runner, inputs = make()
    runner._loaded = True
    context = RecordingContext()

    def denoise(pipeline, call, seed, steps, ctx, prepare=None, image_format="png",
                screened=True):
        ctx.cancel_event.set()
        raise diffusers_runner._Canceled()

    monkeypatch.setattr(runner, "_denoise", denoise)
    with pytest.raises(asyncio.CancelledError):
        await runner.predict(context, inputs(seed=1))
    assert context.saved == {}


async def test_the_step_callback_stops_the_pipeline_after_the_step_that_saw_the_cancel():
    runner, _ = flux2_runner()
    context = RecordingContext()
    ran = []

    def pipeline(generator, callback_on_step_end, num_inference_steps, **call):
        for index in range(num_inference_steps):
            ran.append(index)
            if index == 2:
                context.cancel_event.set()
            callback_on_step_end(pipeline, index, 1000 - index, {})
        raise AssertionError("the pipeline ran to its end")

    with pytest.raises(asyncio.CancelledError):
        await runner._generate(pipeline, {"num_inference_steps": 50}, 1, 50, context)
    assert ran == [0, 1, 2]
    assert [line.split("|")[2].split()[0] for line in context.logs] == ["0/50", "1/50", "2/50",
                                                                       "3/50"]
