"""The FLUX speed settings through a real server on tiny weights, on the CPU: the step
cache is what go_fast does where fp8 is not available, and it changes nothing else."""

from __future__ import annotations

import pytest

from tests.support.flux_e2e import build_weights, file_at, run
from tests.support.server import ServerProcess

SCHNELL = "black-forest-labs/flux-schnell"
INPUT = {"prompt": "a paper boat", "seed": 3, "megapixels": "0.25", "output_format": "png",
         "num_inference_steps": 4}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("weights"))


def serve(folder, weights, **env: str) -> ServerProcess:
    return ServerProcess(folder, env={"REPLICAST_WEIGHTS_DIR": str(weights),
                                      "REPLICAST_WORKER_MODELS": SCHNELL, **env}
                         ).start(timeout=120)


def test_go_fast_with_the_step_cache_runs_the_cached_transformer(tmp_path, weights):
    plain = serve(tmp_path / "plain", weights)
    try:
        with plain.client() as http:
            without_cache = run(http, SCHNELL, **INPUT, go_fast=True)
            full = run(http, SCHNELL, **INPUT, go_fast=False)
            full_image = file_at(full["output"][0])
    finally:
        plain.stop()
    assert without_cache["status"] == "succeeded", without_cache["error"]
    assert "fp8 needs a CUDA GPU" in without_cache["logs"]
    cached = serve(tmp_path / "cached", weights, REPLICAST_STEP_CACHE="10")
    try:
        with cached.client() as http:
            fast = run(http, SCHNELL, **INPUT, go_fast=True)
            slow = run(http, SCHNELL, **INPUT, go_fast=False)
            fast_image, slow_image = file_at(fast["output"][0]), file_at(slow["output"][0])
    finally:
        cached.stop()
    assert fast["status"] == "succeeded", fast["error"]
    assert "go_fast uses the step cache only" in fast["logs"]
    # The full-precision runs never use the cache: the same image with or without it.
    assert slow_image == full_image
    # go_fast with the cache skips most of each step: not the image of the full run.
    assert fast_image != full_image


def test_a_negative_step_cache_stops_the_server_at_start(tmp_path, weights):
    server = ServerProcess(tmp_path, env={"REPLICAST_WEIGHTS_DIR": str(weights),
                                          "REPLICAST_STEP_CACHE": "-1"})
    with pytest.raises(Exception):  # noqa: B017 - it never becomes ready
        server.start(timeout=30)
    assert "REPLICAST_STEP_CACHE" in server.output
