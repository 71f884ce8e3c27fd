"""The FLUX models through real diffusers pipelines: tiny random weights, built offline.

The pipelines have the real shape contract (VAE scale 8, 16 latent channels, sizes in
multiples of 16) but weigh under a megabyte, so the whole path runs on a CPU: the HTTP
request, input validation, the pipeline, the safety checker, encoding, the files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import replicate

from tests.support.flux_e2e import (
    assert_seeds_reproduce,
    build_weights,
    cancel_once_running,
    image_at,
    logged_steps,
    png_data_uri,
    run,
)
from tests.support.server import TOKEN, ServerProcess


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights):
    process = ServerProcess(tmp_path_factory.mktemp("flux"), env={
        "REPLICAST_WEIGHTS_DIR": str(weights),
        "REPLICAST_MODEL_BACKENDS": "black-forest-labs/flux-kontext-max="
                                    "weights:black-forest-labs/flux-kontext-pro"})
    process.start(timeout=120)
    yield process
    process.stop()


def finished(http, prediction: dict) -> dict:
    """The prediction once it has finished: Kontext's 28 steps at a megapixel may take
    longer than a create's wait on a busy CPU."""
    for _ in range(1200):
        if prediction["status"] not in ("starting", "processing"):
            return prediction
        time.sleep(0.5)
        prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
    raise AssertionError(prediction)


def test_the_models_say_they_run_for_real(http, server, weights):
    models = {f"{m['owner']}/{m['name']}": m for m in http.get("/v1/models").json()["results"]}
    for name in ("black-forest-labs/flux-schnell", "black-forest-labs/flux-dev",
                 "black-forest-labs/flux-kontext-pro"):
        assert models[name]["served_by"] == "diffusers"
        assert f"{name}: diffusers, weights in {weights / name}" in server.output
        assert f"{name}: loaded" in server.output  # at startup, with its duration
    assert models["replicast/echo"]["served_by"] == "replicast"


@pytest.mark.parametrize("ratio", ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4",
                                   "4:3", "9:16", "9:21"])
def test_every_aspect_ratio_has_the_real_size(http, ratio):
    from replicast.models import flux_spec

    done = run(http, "black-forest-labs/flux-schnell", prompt="a boat", aspect_ratio=ratio,
               num_inference_steps=1, seed=1, output_format="jpg")
    assert done["status"] == "succeeded", done["error"]
    assert image_at(done["output"][0]).size == flux_spec.flux_size(ratio, "1")
    assert "stand-in" not in done["logs"]


def test_outputs_format_quality_and_count(http):
    done = run(http, "black-forest-labs/flux-schnell", prompt="boats", num_outputs=3,
               megapixels="0.25", aspect_ratio="16:9", output_format="png",
               num_inference_steps=2, seed=5)
    assert [url.rsplit("/", 1)[1] for url in done["output"]] == ["out-0.png", "out-1.png",
                                                               "out-2.png"]
    images = [image_at(url) for url in done["output"]]
    assert {(i.format, i.size) for i in images} == {("PNG", (672, 384))}
    assert done["metrics"]["image_count"] == 3
    low = run(http, "black-forest-labs/flux-schnell", prompt="boats", megapixels="0.25",
              output_quality=5, num_inference_steps=2, seed=5)
    high = run(http, "black-forest-labs/flux-schnell", prompt="boats", megapixels="0.25",
               output_quality=100, num_inference_steps=2, seed=5)
    assert len(httpx.get(low["output"][0]).content) < len(httpx.get(high["output"][0]).content)


def test_a_seed_gives_the_same_image_and_no_seed_a_logged_one(http):
    assert_seeds_reproduce(http, "black-forest-labs/flux-schnell", prompt="same",
                           megapixels="0.25", num_inference_steps=2)


def test_progress_is_logged_each_step_and_the_client_parses_it(server, http, transport):
    client = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
    prediction = client.predictions.create(model="black-forest-labs/flux-dev", input={
        "prompt": "steps", "num_inference_steps": 6, "megapixels": "0.25", "seed": 2})
    prediction.wait()
    assert prediction.status == "succeeded"
    assert logged_steps(prediction.logs) == [f"{i}/6" for i in range(7)]
    progress = prediction.progress
    assert (progress.current, progress.total, progress.percentage) == (6, 6, 1.0)
    assert "No safety checker is configured" in prediction.logs


def test_flux_dev_image_to_image_follows_the_input_image(http):
    done = run(http, "black-forest-labs/flux-dev", prompt="bluer", image=png_data_uri(300, 200),
               prompt_strength=0.5, num_inference_steps=4, seed=3, output_format="webp")
    assert done["status"] == "succeeded", done["error"]
    assert image_at(done["output"][0]).size == (304, 192)
    assert "Input image size: 300x200" in done["logs"]
    assert "2/2" in done["logs"]  # strength 0.5 of 4 steps


def test_go_fast_falls_back_on_the_cpu_and_says_so(http):
    done = run(http, "black-forest-labs/flux-schnell", prompt="fast", megapixels="0.25",
               num_inference_steps=1, go_fast=True)
    assert done["status"] == "succeeded"
    assert "go_fast: fp8 needs a CUDA GPU" in done["logs"]


def test_kontext_edits_an_image_at_its_matched_resolution(http):
    done = finished(http, run(http, "black-forest-labs/flux-kontext-pro", prompt="make it red",
                              input_image=png_data_uri(600, 800), output_format="jpg", seed=7))
    assert done["status"] == "succeeded", done["error"]
    assert isinstance(done["output"], str)
    assert image_at(done["output"]).size == (880, 1184)


def test_kontext_max_runs_on_kontext_pros_weights_and_says_so(http, server, weights):
    model = http.get("/v1/models/black-forest-labs/flux-kontext-max").json()
    assert model["served_by"] == "diffusers"
    assert model["weights"] == {"model": "black-forest-labs/flux-kontext-pro",
                                "repository": "black-forest-labs/FLUX.1-Kontext-dev"}
    assert ("black-forest-labs/flux-kontext-max: diffusers, black-forest-labs/"
            f"flux-kontext-pro's weights in {weights}/black-forest-labs/flux-kontext-pro"
            ) in server.output
    assert server.output.count("black-forest-labs/flux-kontext-pro: loaded") == 1
    text = finished(http, run(http, "black-forest-labs/flux-kontext-max", prompt="a city",
                              aspect_ratio="21:9", seed=7))
    assert text["status"] == "succeeded", text["error"]
    assert "stand-in" not in text["logs"]
    assert image_at(text["output"]).size == (1568, 672)


def test_cancel_stops_between_denoising_steps(http):
    created = cancel_once_running(http, "black-forest-labs/flux-dev", prompt="slow",
                                  num_inference_steps=50, aspect_ratio="16:9")
    # The model stops within a step: the next prediction of flux-dev starts at once.
    began = time.monotonic()
    done = run(http, "black-forest-labs/flux-dev", prompt="next", megapixels="0.25",
               num_inference_steps=1)
    assert done["status"] == "succeeded"
    assert time.monotonic() - began < 10
    assert "50/50" not in http.get(f"/v1/predictions/{created}").json()["logs"]


def test_a_broken_input_fails_that_prediction_only(http):
    broken = run(http, "black-forest-labs/flux-dev", prompt="x",
                 image="data:image/png;base64,bm90IGFuIGltYWdl")
    assert broken["status"] == "failed"
    assert "could not be read as an image" in broken["error"]
    fine = run(http, "black-forest-labs/flux-schnell", prompt="x", megapixels="0.25",
               num_inference_steps=1)
    assert fine["status"] == "succeeded"


def test_a_safety_checker_drops_flagged_images(tmp_path):
    weights = build_weights(tmp_path / "weights", safety="flag")
    server = ServerProcess(tmp_path / "data", env={"REPLICAST_WEIGHTS_DIR": str(weights),
                                                   "REPLICAST_LOAD_MODELS": "first-use"})
    server.start(timeout=120)
    try:
        assert "loaded" not in server.output  # nothing loads before it is used
        with server.client() as http:
            flagged = run(http, "black-forest-labs/flux-schnell", prompt="x", num_outputs=2,
                          megapixels="0.25", num_inference_steps=1)
            assert flagged["status"] == "failed"
            assert flagged["error"] == ("All generated images contained NSFW content. Try "
                                        "running it again with a different prompt.")
            assert "NSFW content detected in image 1" in flagged["logs"]
            assert "Total safe images: 0 out of 2" in flagged["logs"]
            unchecked = run(http, "black-forest-labs/flux-schnell", prompt="x",
                            megapixels="0.25", num_inference_steps=1,
                            disable_safety_checker=True)
            assert unchecked["status"] == "succeeded"
        assert "black-forest-labs/flux-schnell: loaded" in server.output
    finally:
        server.stop()


def test_without_weights_the_models_are_stand_ins(tmp_path):
    env = {**os.environ, "REPLICAST_DATA_DIR": str(tmp_path)}
    listing = subprocess.run([sys.executable, "-m", "replicast", "weights", "list"], env=env,
                             capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1] for line in listing.splitlines()[1:]}
    assert rows == {f"black-forest-labs/{name}": "stand-in" for name in [
        "flux-schnell", "flux-dev", "flux-kontext-pro", "flux-2-dev", "flux-2-klein-4b",
        "flux-2-klein-9b", "flux-2-klein-4b-base", "flux-2-klein-9b-base", "flux-dev-lora",
        "flux-schnell-lora"]}
    assert "no weights in" in listing
    # The LoRA models run on their base models' weights: the same folder.
    assert f"no weights in {tmp_path / 'weights' / 'black-forest-labs' / 'flux-dev'}\n" \
        in listing.split("flux-dev-lora", 1)[1]
    for model, repository in [("flux-schnell", "FLUX.1-schnell"),
                              ("flux-2-klein-4b", "FLUX.2-klein-4B")]:
        refused = subprocess.run(
            [sys.executable, "-m", "replicast", "weights", "pull", f"black-forest-labs/{model}"],
            capture_output=True, text=True, env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"},
            timeout=120)
        assert refused.returncode == 2
        assert f"could not download black-forest-labs/{repository}" in refused.stderr
