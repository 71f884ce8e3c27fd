"""FLUX.2 [dev] and [klein] through real diffusers pipelines: tiny random weights, built offline.

The pipelines keep FLUX.2's shape contract (VAE scale 8, 32 latent channels packed 2x2,
sizes in multiples of 16, the text encoders' real depth) at a width of 16, so the whole
path runs on a CPU: the HTTP request, the reference images, the pipeline, encoding, the
files. The klein models take their text encoders from the shared folder ``pull`` makes.
"""

from __future__ import annotations

import pytest
import replicate

from tests.support.flux_e2e import (
    assert_seeds_reproduce,
    build_weights,
    cancel_once_running,
    file_at,
    image_at,
    logged_steps,
    png_data_uri,
    run,
)
from tests.support.server import TOKEN, ServerProcess

DEV = "black-forest-labs/flux-2-dev"
KLEIN_4B = "black-forest-labs/flux-2-klein-4b"
KLEIN_9B = "black-forest-labs/flux-2-klein-9b"
KLEIN_4B_BASE = "black-forest-labs/flux-2-klein-4b-base"
KLEIN_9B_BASE = "black-forest-labs/flux-2-klein-9b-base"
MODELS = [DEV, KLEIN_4B, KLEIN_9B, KLEIN_4B_BASE, KLEIN_9B_BASE]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("weights"), family="flux2")


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights):
    # One torch thread: tiny models gain nothing from more, and on a busy machine the
    # threads of one operator wait on each other for the cores the other processes hold.
    process = ServerProcess(tmp_path_factory.mktemp("flux2"),
                            env={"REPLICAST_WEIGHTS_DIR": str(weights), "OMP_NUM_THREADS": "1"})
    process.start(timeout=300)
    yield process
    process.stop()


def test_the_models_run_for_real_and_each_text_encoder_loads_once(http, server, weights):
    models = {f"{m['owner']}/{m['name']}": m for m in http.get("/v1/models").json()["results"]}
    for name in MODELS:
        assert models[name]["served_by"] == "diffusers"
        assert f"{name}: loaded" in server.output  # at startup
    for name, encoder in [(KLEIN_4B, "qwen3-4b"), (KLEIN_4B_BASE, "qwen3-4b"),
                          (KLEIN_9B, "qwen3-8b"), (KLEIN_9B_BASE, "qwen3-8b")]:
        assert (f"{name}: diffusers, weights in {weights / name}, text encoder shared from "
                f"{weights / 'text-encoders' / encoder}") in server.output
    for encoder in ("qwen3-4b", "qwen3-8b"):
        assert server.output.count(f"text encoder {weights / 'text-encoders' / encoder}: "
                                   "loaded") == 1


def test_flux_2_dev_makes_one_image_of_the_custom_size_rounded_to_32(http):
    done = run(http, DEV, prompt="a boat", aspect_ratio="custom", width=300, height=260, seed=1)
    assert done["status"] == "succeeded", done["error"]
    assert isinstance(done["output"], str)
    image = image_at(done["output"])
    assert (image.format, image.size) == ("WEBP", (288, 256))
    assert "Generating 288x256 with 0 reference image(s), 50 steps, guidance 4" in done["logs"]
    assert "go_fast: fp8 needs a CUDA GPU" in done["logs"]  # go_fast is on by default


def test_flux_2_dev_takes_several_reference_images(http):
    plain = run(http, DEV, prompt="a boat", aspect_ratio="custom", width=256, height=256,
                seed=3, output_format="png")
    guided = run(http, DEV, prompt="a boat", aspect_ratio="custom", width=256, height=256,
                 seed=3, output_format="png",
                 input_images=[png_data_uri(300, 200), png_data_uri(96, 128)])
    assert guided["status"] == "succeeded", guided["error"]
    assert "Image 1 of input_images: 300x200\nImage 2 of input_images: 96x128\n" \
        in guided["logs"]
    assert "with 2 reference image(s)" in guided["logs"]
    assert image_at(guided["output"]).size == (256, 256)
    # The same seed and prompt: only the references can make the difference.
    assert file_at(plain["output"]) != file_at(guided["output"])


@pytest.mark.parametrize("model", [KLEIN_4B, KLEIN_9B])
def test_klein_matches_the_first_reference_images_aspect_ratio(http, model):
    pixels = {"output_megapixels": "0.25"} if model == KLEIN_4B else {"megapixels": "0.25"}
    done = run(http, model, prompt="a boat", aspect_ratio="match_input_image", seed=2,
               images=[png_data_uri(300, 200), png_data_uri(128, 128), png_data_uri(64, 64)],
               **pixels)
    assert done["status"] == "succeeded", done["error"]
    assert isinstance(done["output"], list) and len(done["output"]) == 1
    image = image_at(done["output"][0])
    assert (image.format, image.size) == ("JPEG", (624, 416))  # 3:2 at 0.25 MP, sides x16
    assert "with 3 reference image(s), 4 steps" in done["logs"]


@pytest.mark.parametrize(("ratio", "megapixels", "size"), [
    ("1:1", "0.25", (512, 512)), ("16:9", "0.5", (960, 544)), ("9:21", "0.25", (336, 784)),
])
def test_klein_sizes_follow_the_aspect_ratio_and_megapixels(http, ratio, megapixels, size):
    done = run(http, KLEIN_4B, prompt="a field", aspect_ratio=ratio,
               output_megapixels=megapixels, seed=4, output_format="png")
    assert done["status"] == "succeeded", done["error"]
    assert image_at(done["output"][0]).size == size


def test_klein_base_models_do_classifier_free_guidance(http):
    def once(model, guidance):
        done = run(http, model, prompt="a red boat", output_megapixels="0.25", seed=5,
                   guidance=guidance, output_format="png")
        assert done["status"] == "succeeded", done["error"]
        assert f"50 steps, guidance {guidance:g}" in done["logs"]
        assert "50/50" in done["logs"]
        return file_at(done["output"][0])

    # At guidance 1 the pipeline skips the unconditional pass; above it, the image moves.
    assert once(KLEIN_4B_BASE, 1) != once(KLEIN_4B_BASE, 6)
    assert once(KLEIN_9B_BASE, 4)


def test_a_seed_gives_the_same_bytes_and_no_seed_a_logged_one(http):
    assert_seeds_reproduce(http, KLEIN_4B, prompt="same", output_megapixels="0.25")


def test_progress_is_logged_each_step_and_the_client_parses_it(server, transport):
    client = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
    prediction = client.predictions.create(model=KLEIN_9B, input={
        "prompt": "steps", "megapixels": "0.25", "seed": 2})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert logged_steps(prediction.logs) == [f"{i}/4" for i in range(5)]
    progress = prediction.progress
    assert (progress.current, progress.total, progress.percentage) == (4, 4, 1.0)
    assert "No safety checker is configured" in prediction.logs


def test_cancel_stops_between_denoising_steps(http):
    created = cancel_once_running(http, DEV, prompt="slow", aspect_ratio="custom", width=1440,
                                  height=1440)
    done = run(http, DEV, prompt="next", aspect_ratio="custom", width=256, height=256, seed=1)
    assert done["status"] == "succeeded", done["error"]
    assert "50/50" not in http.get(f"/v1/predictions/{created}").json()["logs"]


@pytest.mark.parametrize(("image", "error"), [
    (png_data_uri(48, 200), "Image 2 of images is 48x200; each side must be at least 64 pixels"),
    (png_data_uri(900, 100), "Image 2 of images is 900x100; its aspect ratio must be at most 8:1"),
    ("data:image/png;base64,bm90IGFuIGltYWdl", "The image 2 of images could not be read as an "
                                               "image"),
])
def test_a_reference_the_pipeline_cannot_take_fails_that_prediction_only(http, image, error):
    broken = run(http, KLEIN_4B, prompt="x", output_megapixels="0.25",
                 images=[png_data_uri(64, 64), image])
    assert broken["status"] == "failed"
    assert broken["error"].startswith(error)
    fine = run(http, KLEIN_4B, prompt="x", output_megapixels="0.25", seed=1)
    assert fine["status"] == "succeeded"

