"""``--random-weights`` through a real server, and the GPU benchmark's dry run.

The server builds flux-schnell's pipeline from the tiny configs (the same code path as
the full-size ones, at a few thousand parameters) instead of loading a weights folder:
predictions run through diffusers, and the API and the logs say the weights are random.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.flux_e2e import run
from tests.support.server import ServerProcess

pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[2]
SCHNELL = "black-forest-labs/flux-schnell"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # No weights folder at all: only the random pipeline can serve flux-schnell.
    process = ServerProcess(tmp_path_factory.mktemp("random"),
                            args=["--random-weights", SCHNELL],
                            env={"REPLICAST_RANDOM_WEIGHTS_SIZE": "tiny",
                                 "OMP_NUM_THREADS": "1"})
    process.start(timeout=300)
    yield process
    process.stop()


def test_a_model_on_random_weights_runs_and_says_so(http, server):
    described = http.get(f"/v1/models/{SCHNELL}").json()
    assert described["served_by"] == "diffusers"
    assert described["weights"] == {"model": SCHNELL,
                                    "repository": "black-forest-labs/FLUX.1-schnell",
                                    "random": True}
    dev = http.get("/v1/models/black-forest-labs/flux-dev").json()
    assert dev["served_by"] == "stand-in" and "weights" not in dev
    assert f"{SCHNELL}: diffusers, RANDOM weights in {SCHNELL}'s architecture at tiny size" \
        in server.output
    assert f"{SCHNELL}: loaded RANDOM weights at tiny size" in server.output

    done = run(http, SCHNELL, prompt="a paper boat", seed=3, megapixels="0.25",
               num_inference_steps=2, num_outputs=2, output_format="png")
    assert done["status"] == "succeeded", done.get("error")
    assert len(done["output"]) == 2
    image = http.get(done["output"][0])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_the_gpu_benchmark_runs_end_to_end_as_a_dry_run(tmp_path):
    env = {**os.environ, "RESULTS": str(tmp_path), "SITE": str(tmp_path / "site"),
           "PORT": str(_free_port()), "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    finished = subprocess.run([str(ROOT / "bench" / "gpu" / "run.sh"), "--dry-run"], env=env,
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    # What the local environment lacks (torchao, unless the fast extra is installed) is
    # installed from the fetched wheels, or named when none were fetched.
    assert any(line in finished.stdout for line in (
        "every dependency is installed already", f"installing into {tmp_path / 'site'}",
        "no wheels to install them from")), finished.stdout
    [table] = tmp_path.glob("flux-dry-run-*.md")
    [data] = tmp_path.glob("flux-dry-run-*.json")
    results = json.loads(data.read_text())
    assert results["random_weights"] is True
    cells = results["cells"]
    assert {(c["model"], c["mode"], c["clients"]) for c in cells} == {
        (model, mode, clients) for model in ("flux-schnell", "flux-2-klein-4b", "flux-dev")
        for mode in ("bf16", "go_fast") for clients in (1, 2)}
    for cell in cells:
        assert cell["images"] == cell["clients"] and cell["images_per_s"] > 0, cell
        assert cell["s_per_image"] > 0 and not cell["note"], cell
    assert "| flux-2-klein-4b | go_fast | on | 2 | 2 |" in table.read_text()


def _free_port() -> int:
    from tests.support.server import free_port

    return free_port()
