"""Dynamic batching through real tiny pipelines: predictions that wait together run as
one pipeline call, and each gets the images its seed gives alone."""

from __future__ import annotations

import asyncio
import io
import threading
import warnings
from pathlib import Path

import numpy
import pytest
from PIL import Image

from replicast.models import catalog, flux, flux2, flux_spec
from replicast.models.batching import BatchLimits
from replicast.models.catalog import flux2 as flux2_spec
from replicast.models.validation import InputValidator
from tests.support import tiny_flux
from tests.support.context import RecordingContext

TOLERANCE = 1
"""Largest difference, in 8-bit levels, between a batched image and the one made alone:
the transformer's matrix products sum in another order for a batch, which moves float32
latents by about 1e-6 and flips the rounding of a few pixels by one level."""


def values(model: str, **given):
    checked, _ = InputValidator(catalog.spec(model).openapi_schema()).validate(given)
    return checked


def schnell_inputs(**given):
    return values(flux_spec.SCHNELL, **{"megapixels": "0.25", "num_inference_steps": 3,
                                        "output_format": "png", **given})


def dev_inputs(**given):
    return values(flux_spec.DEV, **{"megapixels": "0.25", "output_format": "png", **given})


def pixels(data: bytes) -> numpy.ndarray:
    return numpy.asarray(Image.open(io.BytesIO(data)).convert("RGB"), numpy.int16)


def difference(a: RecordingContext, b: RecordingContext) -> int:
    assert sorted(a.saved) == sorted(b.saved)
    return max(int(numpy.abs(pixels(a.saved[name]) - pixels(b.saved[name])).max())
               for name in a.saved)


class Watched(RecordingContext):
    """Sets ``seen`` once a log line holds ``text`` (from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def log(self, text: str) -> None:
        super().log(text)
        if self.text in text:
            self.seen.set()


@pytest.fixture(scope="module")
def schnell(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny_flux.build("schnell", tmp_path_factory.mktemp("schnell"))


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny_flux.build("dev", tmp_path_factory.mktemp("dev"))


async def alone(runner, given: list[dict]) -> list[RecordingContext]:
    contexts = []
    for inputs in given:
        contexts.append(RecordingContext())
        await runner.predict(contexts[-1], inputs)
    return contexts


async def together(runner, given: list[dict]) -> list[RecordingContext]:
    contexts = [RecordingContext() for _ in given]
    await asyncio.gather(*(runner.predict(c, i) for c, i in zip(contexts, given, strict=True)))
    return contexts


async def test_flux1_batched_images_are_those_made_alone(schnell):
    given = [schnell_inputs(prompt="a paper boat", seed=1),
             schnell_inputs(prompt="a cat on a chair", seed=2, num_outputs=3),
             schnell_inputs(prompt="a paper boat", seed=3),
             schnell_inputs(prompt="fruit", seed=4, num_outputs=2)]
    single = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu")
    await single.setup()
    batched = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu",
                              batching=BatchLimits(max_size=8))
    await batched.setup()
    solo = await alone(single, given)
    shared = await together(batched, given)
    for one, other in zip(solo, shared, strict=True):
        assert one.metrics["batch_size"] == 1
        assert other.metrics["batch_size"] == 4
        assert other.metrics["image_count"] == one.metrics["image_count"]
        assert difference(one, other) <= TOLERANCE
        assert "Batched with 3 other prediction(s) in one pipeline call\n" in other.logs
    assert len({bytes(c.saved["out-0.png"]) for c in shared}) == 4  # seeds still count


async def test_only_calls_that_can_be_one_are_batched_within_the_pixel_budget(schnell):
    runner = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu",
                             batching=BatchLimits(max_size=8, max_pixels=3 * 512 * 512))
    await runner.setup()
    given = [schnell_inputs(prompt="a", seed=1), schnell_inputs(prompt="b", seed=2),
             schnell_inputs(prompt="c", seed=3, num_inference_steps=2),
             schnell_inputs(prompt="d", seed=4, aspect_ratio="16:9"),
             schnell_inputs(prompt="e", seed=5), schnell_inputs(prompt="f", seed=6)]
    contexts = await together(runner, given)
    # a, b, e fill the budget (three 512x512 images); f comes in the next call.
    assert [c.metrics["batch_size"] for c in contexts] == [3, 3, 1, 1, 3, 1]


async def test_a_cancel_drops_one_prediction_and_the_batch_goes_on(dev):
    runner = flux.FluxRunner(flux_spec.DEV, dev, device="cpu",
                             batching=BatchLimits(max_size=8))
    await runner.setup()
    given = [dev_inputs(prompt=p, seed=s, num_inference_steps=6)
             for p, s in (("a", 1), ("b", 2), ("c", 3))]
    solo = await alone(flux.FluxRunner(flux_spec.DEV, dev, device="cpu"), given[::2])
    contexts = [RecordingContext(), Watched("| 1/6"), RecordingContext()]
    doomed = contexts[1]
    tasks = [asyncio.create_task(runner.predict(c, i))
             for c, i in zip(contexts, given, strict=True)]
    assert await asyncio.to_thread(doomed.seen.wait, 60)
    doomed.cancel_event.set()  # as the worker cancels: the event, then the task
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert not tasks[0].done()  # canceled promptly, before the batch ends
    await asyncio.gather(tasks[0], tasks[2])
    assert [c.metrics["batch_size"] for c in contexts] == [3, 3, 3]
    assert doomed.saved == {}
    assert "6/6" not in doomed.log_text
    for one, other in zip(solo, contexts[::2], strict=True):
        assert difference(one, other) <= TOLERANCE
        assert "6/6" in other.log_text


async def test_a_batch_whose_predictions_are_all_canceled_stops_between_steps(dev):
    runner = flux.FluxRunner(flux_spec.DEV, dev, device="cpu",
                             batching=BatchLimits(max_size=8))
    await runner.setup()
    passes = []
    runner._pipeline.transformer.register_forward_hook(lambda *_: passes.append(1))
    contexts = [Watched("| 1/50"), Watched("| 1/50")]
    tasks = [asyncio.create_task(runner.predict(c, dev_inputs(prompt="x", seed=n,
                                                              num_inference_steps=50)))
             for n, c in enumerate(contexts)]
    for context in contexts:
        assert await asyncio.to_thread(context.seen.wait, 60)
    for context, task in zip(contexts, tasks, strict=True):
        context.cancel_event.set()
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # The device comes free within a step: the next prediction runs at once.
    after = RecordingContext()
    await asyncio.wait_for(runner.predict(after, dev_inputs(prompt="y", seed=9,
                                                            num_inference_steps=2)), 30)
    assert after.metrics["batch_size"] == 1
    assert all(c.metrics["batch_size"] == 2 for c in contexts)
    assert len(passes) < 10 + 2  # a few steps of the batch, then the next prediction's 2


async def test_each_prediction_in_a_batch_gets_its_own_progress_and_previews(schnell):
    runner = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu",
                             batching=BatchLimits(max_size=8))
    await runner.setup()
    given = [schnell_inputs(prompt="a paper boat", seed=1, num_inference_steps=4),
             schnell_inputs(prompt="a cat", seed=2, num_inference_steps=4, num_outputs=2),
             schnell_inputs(prompt="fruit", seed=3, num_inference_steps=4)]
    contexts = [RecordingContext() for _ in given]
    contexts[1].previews, contexts[2].previews = 2, 1
    await asyncio.gather(*(runner.predict(c, i) for c, i in zip(contexts, given, strict=True)))
    for context in contexts:
        assert context.metrics["batch_size"] == 3
        assert [line.split("|")[2].split()[0] for line in context.logs if "|" in line] == [
            f"{n}/4" for n in range(5)]
    assert contexts[0].preview_images == []
    assert [i for i, _, _ in contexts[1].preview_images] == [0, 1]
    assert [i for i, _, _ in contexts[2].preview_images] == [0]
    # Each preview is its own prediction's first image, not its neighbour's.
    single = flux.FluxRunner(flux_spec.SCHNELL, schnell, device="cpu")
    await single.setup()
    for context, inputs in zip(contexts[1:], given[1:], strict=True):
        own = RecordingContext()
        own.previews = context.previews
        await single.predict(own, inputs)
        for (_, mine, _), (_, theirs, _) in zip(own.preview_images, context.preview_images,
                                                strict=True):
            assert int(numpy.abs(pixels(mine) - pixels(theirs)).max()) <= TOLERANCE


async def test_flux2_batched_images_are_those_made_alone(tmp_path):
    model = flux2_spec.KLEIN_4B_BASE  # real guidance: a negative prompt in the batch too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group, _ = tiny_flux.KLEIN[model]
        encoder = tiny_flux.build_qwen3_encoder(tmp_path / "encoder",
                                                tiny_flux.KLEIN_WIDTH[group])
        folder = tiny_flux.build_klein(model, tmp_path / "klein", encoder)

    def make(batching):
        return flux2.Flux2Runner(model, folder, size=flux2_spec.size, encoder=encoder,
                                 device="cpu", batching=batching)

    given = [values(model, prompt=p, seed=s, guidance=4, output_megapixels="0.25",
                    output_format="png")
             for p, s in (("a paper boat", 1), ("a cat on a red chair", 2), ("fruit", 3))]
    single, batched = make(None), make(BatchLimits())
    await single.setup()
    await batched.setup()
    solo = await alone(single, given)
    shared = await together(batched, given)
    for one, other in zip(solo, shared, strict=True):
        assert other.metrics["batch_size"] == 3
        assert difference(one, other) <= TOLERANCE


async def test_a_batch_out_of_gpu_memory_runs_again_one_prediction_at_a_time(monkeypatch):
    import torch

    runner = flux.FluxRunner(flux_spec.SCHNELL, Path("/nonexistent"), load_at_startup=False,
                             batching=BatchLimits())
    runner._loaded = True
    alone_calls = []

    def batch(jobs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    def denoise(pipeline, call, seed, steps, context, prepare=None, image_format="png",
                screened=True):
        alone_calls.append(seed)
        return [Image.new("RGB", (call["width"], call["height"]))] * call["num_images_per_prompt"]

    monkeypatch.setattr(runner, "_denoise_batch", batch)
    monkeypatch.setattr(runner, "_denoise", denoise)
    contexts = await together(runner, [schnell_inputs(prompt="a", seed=1),
                                       schnell_inputs(prompt="b", seed=2, num_outputs=2)])
    assert alone_calls == [1, 2]
    assert [c.metrics["batch_size"] for c in contexts] == [1, 1]
    assert all("The batch ran out of GPU memory; running alone\n" in c.logs for c in contexts)
    assert [c.metrics["image_count"] for c in contexts] == [1, 2]


async def test_flux2_dev_batched_calls_make_the_images_made_alone(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tiny_flux.build_flux2_dev(tmp_path / "dev")
    single = flux2.Flux2Runner(flux2_spec.DEV, folder, size=flux2_spec.size, device="cpu")
    batched = flux2.Flux2Runner(flux2_spec.DEV, folder, size=flux2_spec.size, device="cpu",
                                batching=BatchLimits())
    await single.setup()
    await batched.setup()

    def call(prompt):
        return {"prompt": prompt, "image": None, "width": 256, "height": 128,
                "num_inference_steps": 3, "guidance_scale": 4.0, "max_sequence_length": 64,
                "output_type": "np"}

    prompts = ["a paper boat", "a cat on a red chair", "fruit"]
    solo = [(await single._generate(single._pipeline, call(p), n, 3, RecordingContext()))[0]
            for n, p in enumerate(prompts)]
    contexts = [RecordingContext() for _ in prompts]
    shared = await asyncio.gather(*(
        batched._generate(batched._pipeline, call(p), n, 3, contexts[n], batch="small")
        for n, p in enumerate(prompts)))
    assert [c.metrics["batch_size"] for c in contexts] == [3, 3, 3]
    for one, [other] in zip(solo, shared, strict=True):
        assert float(numpy.abs(one - other).max()) * 255 <= TOLERANCE
