"""The whole FLUX catalog against real server processes, answered by stand-ins: every model
run by name with the official Python and npm clients, size rules and refusals over HTTP,
and what an operator chooses to serve a model with (another server, through a route)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from replicast.models import catalog
from tests.support.server import TOKEN, ServerProcess

UPSTREAM_TOKEN = "r8_UpstreamTokenForTheCatalogRouteTests0000"

pytestmark = pytest.mark.e2e

JS = Path(__file__).parents[1] / "js"
B = "black-forest-labs/"


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 60, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# Each model by name: a small input, then the count, pixel size and format it must give.
RUNS: dict[str, tuple[dict[str, Any], int, tuple[int, int], str]] = {
    B + "flux-schnell": ({"megapixels": "0.25", "num_outputs": 2, "aspect_ratio": "16:9"},
                         2, (672, 384), "WEBP"),
    B + "flux-dev": ({"megapixels": "0.25", "image": png(320, 240), "num_inference_steps": 2},
                     1, (320, 240), "WEBP"),
    B + "flux-dev-lora": ({"megapixels": "0.25", "aspect_ratio": "3:2"}, 1, (608, 416), "WEBP"),
    B + "flux-schnell-lora": ({"megapixels": "0.25", "num_outputs": 2}, 2, (512, 512), "WEBP"),
    B + "flux-kontext-pro": ({"input_image": png(600, 800)}, 1, (880, 1184), "PNG"),
    B + "flux-kontext-max": ({"aspect_ratio": "21:9", "output_format": "jpg"}, 1, (1568, 672),
                             "JPEG"),
    B + "flux-pro": ({"aspect_ratio": "custom", "width": 512, "height": 320}, 1, (512, 320),
                     "WEBP"),
    B + "flux-1.1-pro": ({"aspect_ratio": "16:9", "image_prompt": png(64, 64)}, 1, (1376, 768),
                         "WEBP"),
    B + "flux-1.1-pro-ultra": ({"aspect_ratio": "21:9"}, 1, (3136, 1344), "JPEG"),
    B + "flux-2-pro": ({"resolution": "0.5 MP", "aspect_ratio": "3:2",
                        "input_images": [png(90, 60)]}, 1, (880, 592), "WEBP"),
    B + "flux-2-max": ({"input_images": [png(300, 200), png(90, 90, (0, 0, 200))],
                        "aspect_ratio": "match_input_image", "resolution": "0.5 MP"},
                       1, (880, 592), "WEBP"),
    B + "flux-2-flex": ({"aspect_ratio": "custom", "width": 300, "height": 300, "steps": 3},
                        1, (304, 304), "WEBP"),
    B + "flux-2-dev": ({"input_images": [png(256, 512)], "aspect_ratio": "match_input_image"},
                       1, (720, 1456), "WEBP"),
    B + "flux-2-klein-4b": ({"output_megapixels": "0.25", "images": [png(64, 64)]},
                            1, (512, 512), "JPEG"),
    B + "flux-2-klein-9b": ({"megapixels": "0.25", "aspect_ratio": "9:16"}, 1, (384, 688),
                            "JPEG"),
    B + "flux-2-klein-4b-base": ({"output_megapixels": "0.25", "output_format": "webp"},
                                 1, (512, 512), "WEBP"),
    B + "flux-2-klein-9b-base": ({"output_megapixels": "0.5", "aspect_ratio": "4:3"},
                                 1, (832, 624), "JPEG"),
}


def check_output(model: str, output: Any) -> None:
    _, count, size, kind = RUNS[model]
    many = catalog.spec(model).many_outputs
    assert isinstance(output, list) == many, output
    urls = output if many else [output]
    assert len(urls) == count
    for url in urls:
        response = httpx.get(str(url))
        assert response.status_code == 200
        image = Image.open(io.BytesIO(response.content))
        assert (image.format, image.size) == (kind, size)


def test_every_catalog_model_has_a_run():
    assert sorted(RUNS) == sorted(catalog.names())


@pytest.mark.parametrize("model", sorted(RUNS))
def test_the_python_client_runs_each_model_by_name(client, model):
    check_output(model, client.run(model, input={"prompt": "a red kite", **RUNS[model][0]}))


@pytest.fixture(scope="module")
def npm_outputs(server):
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for the npm client tests: install nodejs")
    if not (JS / "node_modules" / "replicate").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    runs = {model: {"prompt": "a red kite", **given} for model, (given, *_) in RUNS.items()}
    result = subprocess.run(
        ["node", "catalog.mjs"], cwd=JS, capture_output=True, text=True, timeout=300,
        env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN,
             "REPLICAST_RUNS": json.dumps(runs)})
    assert result.returncode == 0, result.stderr + result.stdout
    outputs: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return outputs


@pytest.mark.parametrize("model", sorted(RUNS))
def test_the_npm_client_runs_each_model_by_name(npm_outputs, model):
    check_output(model, npm_outputs[model])


def create(http: httpx.Client, model: str, **input: Any) -> httpx.Response:
    return http.post(f"/v1/models/{model}/predictions", json={"input": input},
                     headers={"Prefer": "wait"})


@pytest.mark.parametrize("model,input,size", [
    (B + "flux-2-flex", {"resolution": "4 MP", "aspect_ratio": "16:9"}, (2048, 1152)),
    (B + "flux-2-pro", {"aspect_ratio": "match_input_image", "resolution":
                        "match_input_image", "input_images": [png(300, 300)]}, (720, 720)),
    (B + "flux-1.1-pro", {"aspect_ratio": "custom", "width": 1000, "height": 257},
     (992, 256)),
    (B + "flux-2-klein-4b", {"aspect_ratio": "21:9"}, (1568, 672)),
])
def test_size_rules_over_http(http, model, input, size):
    done = create(http, model, prompt="p", output_format="png", **input).json()
    assert done["status"] == "succeeded", done
    url = done["output"][0] if isinstance(done["output"], list) else done["output"]
    assert Image.open(io.BytesIO(httpx.get(url).content)).size == size
    assert f"Generated 1 image(s) of {size[0]}x{size[1]}" in done["logs"]


@pytest.mark.parametrize("model,input,field,words", [
    (B + "flux-2-pro", {"input_images": ["https://example.com/a.png"] * 9},
     "input.input_images", "input_images takes at most 8 images; 9 were given"),
    (B + "flux-2-klein-9b-base", {"images": [png(8, 8), "data:text/plain;base64,aGk="]},
     "input.images.1", "The data URI holds text/plain, not an image"),
    (B + "flux-2-dev", {"aspect_ratio": "custom", "width": 512}, "input.height",
     "height is required when aspect_ratio is custom"),
    (B + "flux-2-max", {"aspect_ratio": "custom", "width": 4096, "height": 512},
     "input.width", "Must be less than or equal to 2048"),
])
def test_what_a_model_cannot_take_is_a_422_naming_the_field(http, model, input, field, words):
    response = create(http, model, prompt="p", **input)
    assert response.status_code == 422, response.text
    problems = response.json()["invalid_fields"]
    assert [p["field"] for p in problems] == [field]
    assert words in problems[0]["description"]


def test_a_reference_that_is_no_image_fails_the_prediction_naming_it(http):
    uploaded = http.post("/v1/files", files={"content": ("notes.txt", b"not a picture")})
    assert uploaded.status_code == 201
    done = create(http, B + "flux-2-pro", prompt="p",
                  input_images=[png(8, 8), uploaded.json()["urls"]["get"]]).json()
    assert done["status"] == "failed"
    assert done["error"].startswith(
        "The file given as input_images[1] could not be read as an image"), done["error"]


def test_the_catalog_models_publish_replicates_versions(http):
    for model, spec in catalog.SPECS.items():
        described = http.get(f"/v1/models/{model}").json()
        assert described["served_by"] == "stand-in" and "weights" not in described
        if spec.version_id is not None:
            assert described["latest_version"]["id"] == spec.version_id


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    """A server that routes flux-1.1-pro to another (whose stand-in answers it) and keeps
    a stand-in of flux-dev even where its weights would be."""
    upstream = ServerProcess(tmp_path_factory.mktemp("upstream"), token=UPSTREAM_TOKEN,
                             env={"REPLICAST_RATE_LIMIT_CREATES": "0"}).start()
    folder = tmp_path_factory.mktemp("routing")
    routes = folder / "routes.yaml"
    routes.write_text(f"routes:\n  - models: ['{B}*']\n    base_url: {upstream.base_url}\n"
                      "    token_env: UPSTREAM_TOKEN\n    poll_interval: 0.1\n")
    gateway = ServerProcess(folder, env={
        "REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
        "REPLICAST_ALLOW_PRIVATE_URLS": "true",
        "REPLICAST_MODEL_BACKENDS": f"{B}flux-1.1-pro=gateway,{B}flux-dev=stand-in"})
    try:
        gateway.start()
        yield gateway
    finally:
        if gateway.process is not None:
            gateway.stop()
        upstream.stop()


def test_a_model_chosen_for_the_gateway_is_routed_and_says_so(routed):
    with routed.client() as http:
        model = http.get(f"/v1/models/{B}flux-1.1-pro").json()
        assert model["served_by"] == "upstream"
        assert http.get(f"/v1/models/{B}flux-pro").json()["served_by"] == "stand-in"
        done = create(http, B + "flux-1.1-pro", prompt="p", aspect_ratio="1:1").json()
    assert done["status"] == "succeeded", done
    assert "Replicast stand-in for black-forest-labs/flux-1.1-pro" in done["logs"]
    assert Image.open(io.BytesIO(httpx.get(done["output"]).content)).size == (1024, 1024)
    assert f"{B}flux-1.1-pro: routed upstream (REPLICAST_MODEL_BACKENDS)" in routed.output


def test_a_bad_choice_stops_the_server_saying_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "replicast", "serve", "--port", "9"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "REPLICAST_DATA_DIR": str(tmp_path),
                         "REPLICAST_MODEL_BACKENDS": f"{B}flux-pro=weights:{B}flux-dev"})
    assert result.returncode != 0
    assert (f"REPLICAST_MODEL_BACKENDS: {B}flux-dev's weights cannot serve {B}flux-pro"
            in result.stderr)
