"""flux-dev-lora and flux-schnell-lora through real diffusers pipelines and real LoRAs.

Tiny random-weight FLUX.1 pipelines and tiny random LoRAs (diffusers/PEFT safetensors),
built offline; a loopback host serves the LoRA files and plays the Hugging Face hub
(REPLICAST_HF_ENDPOINT points at it). The whole path runs on a CPU: the create, the
LoRA's download, check and cache, the adapter switched into the loaded pipeline.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat

import httpx
import pytest
import replicate

from tests.e2e.test_flux import build_weights
from tests.support import tiny_flux
from tests.support.lora_host import LoraHost
from tests.support.server import TOKEN, ServerProcess, free_port

DEV_LORA = "black-forest-labs/flux-dev-lora"
SCHNELL_LORA = "black-forest-labs/flux-schnell-lora"
CACHED_LORAS = 3
"""How many of the tiny LoRAs the server's cache holds."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def loras(tmp_path_factory, weights):
    """LoRA files by name: a, b, c... good ones; the bad ones by what they are."""
    folder = tmp_path_factory.mktemp("loras")
    dev = weights / "black-forest-labs" / "flux-dev"
    made = {name: tiny_flux.build_lora(dev, folder / f"{name}.safetensors", seed=seed)
            for seed, name in enumerate("abcdefghij", start=1)}
    made["wide"] = tiny_flux.build_lora_for_another_model(dev, folder / "wide.safetensors")
    made["sdxl"] = tiny_flux.build_stable_diffusion_lora(folder / "sdxl.safetensors")
    made["checkpoint"] = tiny_flux.build_checkpoint(dev, folder / "checkpoint.safetensors")
    return made


@pytest.fixture(scope="module")
def host(loras):
    with LoraHost() as host:
        for name, path in loras.items():
            host.files[f"/loras/{name}.safetensors"] = path.read_bytes()
        yield host


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights, loras, host):
    size = loras["a"].stat().st_size
    process = ServerProcess(tmp_path_factory.mktemp("flux-lora"), env={
        "REPLICAST_WEIGHTS_DIR": str(weights),
        "REPLICAST_ALLOW_PRIVATE_URLS": "true",  # the LoRA host is on the loopback
        "REPLICAST_HF_ENDPOINT": host.base_url,
        "REPLICAST_LORA_MAX_BYTES": str(3 * size),
        "REPLICAST_LORA_CACHE_BYTES": str(int((CACHED_LORAS + 0.5) * size)),
        "REPLICAST_LORA_FETCH_TIMEOUT": "3",
        "REPLICAST_RATE_LIMIT_CREATES": "0",
    })
    process.start(timeout=180)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.client() as http:
        yield http


def run(http, model: str, **input) -> dict:
    # guidance and go_fast given: their defaults differ between flux-dev and flux-dev-lora.
    input = {"prompt": "a boat", "megapixels": "0.25", "num_inference_steps": 2, "seed": 3,
             "output_format": "png", "go_fast": False, **input}
    if "dev" in model:
        input.setdefault("guidance", 3)
    response = http.post(f"/v1/models/{model}/predictions", json={"input": input},
                         headers={"Prefer": "wait"})
    assert response.status_code == 201, response.text
    return response.json()


def image(http, done: dict) -> str:
    """The digest of the prediction's first image (a failing comparison of digests reads
    better, and far faster, than one of megabytes)."""
    assert done["status"] == "succeeded", (done["error"], done["logs"])
    return hashlib.sha256(httpx.get(done["output"][0]).content).hexdigest()


def test_the_lora_models_run_on_the_base_models_pipelines(http, server, weights):
    models = {f"{m['owner']}/{m['name']}": m for m in http.get("/v1/models").json()["results"]}
    for name, base in ((DEV_LORA, "flux-dev"), (SCHNELL_LORA, "flux-schnell")):
        assert models[name]["served_by"] == "diffusers"
        assert f"{name}: diffusers, weights in {weights / 'black-forest-labs' / base}" \
            in server.output
        # Loaded once, for the base model and its LoRA model together.
        assert len(re.findall(rf"black-forest-labs/{base}: loaded ", server.output)) == 1


def test_two_loras_in_a_row_each_get_their_own(http, host):
    base = image(http, run(http, DEV_LORA))
    a = run(http, DEV_LORA, lora_weights=host.url("/loras/a.safetensors"))
    b = run(http, DEV_LORA, lora_weights=host.url("/loras/b.safetensors"))
    again = run(http, DEV_LORA, lora_weights=host.url("/loras/a.safetensors"))
    after = image(http, run(http, DEV_LORA))
    assert len({base, image(http, a), image(http, b)}) == 3
    # The same LoRA and seed give the same image, loaded anew or kept loaded.
    assert image(http, again) == image(http, a)
    # Without a LoRA, the base model's image exactly: the LoRAs are switched off.
    assert after == base
    assert image(http, run(http, "black-forest-labs/flux-dev")) == base
    assert "Using lora_weights at scale 1\n" in a["logs"]
    assert "Loaded 1 LoRA(s)" in a["logs"]
    assert "Loaded 1 LoRA(s)" not in again["logs"]  # still loaded


def test_scales_and_an_extra_lora(http, host):
    url_a, url_b = host.url("/loras/a.safetensors"), host.url("/loras/b.safetensors")
    alone = image(http, run(http, DEV_LORA, lora_weights=url_a))
    both = image(http, run(http, DEV_LORA, lora_weights=url_a, extra_lora=url_b,
                           extra_lora_scale=0.5))
    half = image(http, run(http, DEV_LORA, lora_weights=url_a, lora_scale=0.5))
    off = image(http, run(http, DEV_LORA, lora_weights=url_a, lora_scale=0))
    assert len({alone, both, half}) == 3
    assert off == image(http, run(http, DEV_LORA))
    same = run(http, DEV_LORA, lora_weights=url_a, extra_lora=url_a)
    assert "extra_lora is the same as lora_weights; it is ignored" in same["logs"]
    assert image(http, same) == alone


def test_schnell_lora_takes_a_lora_too(http, host):
    base = image(http, run(http, SCHNELL_LORA))
    with_lora = image(http, run(http, SCHNELL_LORA, lora_weights=host.url("/loras/c.safetensors")))
    assert base != with_lora
    assert image(http, run(http, "black-forest-labs/flux-schnell")) == base


def test_a_lora_is_downloaded_once(http, host):
    path = "/loras/d.safetensors"
    first = run(http, DEV_LORA, lora_weights=host.url(path), seed=1)
    second = run(http, SCHNELL_LORA, lora_weights=host.url(path), seed=2)
    assert first["status"] == second["status"] == "succeeded"
    assert host.requests[path] == 1
    assert "Downloading LoRA weights from" in first["logs"]
    assert f"LoRA {host.url(path)} found in the cache" in second["logs"]


def test_the_cache_keeps_the_most_recently_used_within_its_bound(http, host, server):
    names = ["e", "f", "g", "h"]  # one more than the cache holds
    for name in names:
        assert run(http, DEV_LORA, lora_weights=host.url(f"/loras/{name}.safetensors"),
                   num_inference_steps=1)["status"] == "succeeded"
    cache = server.data_dir / "loras"
    kept = sorted(p.name for p in cache.glob("*.safetensors"))
    assert len(kept) == CACHED_LORAS
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in cache.glob("*.safetensors")} == {0o600}
    # The least recently used went; the latest is still there.
    assert run(http, DEV_LORA, lora_weights=host.url("/loras/e.safetensors"),
               num_inference_steps=1)["status"] == "succeeded"
    assert run(http, DEV_LORA, lora_weights=host.url("/loras/h.safetensors"),
               num_inference_steps=1)["status"] == "succeeded"
    assert host.requests["/loras/e.safetensors"] == 2
    assert host.requests["/loras/h.safetensors"] == 1


def test_a_hugging_face_repository_or_file(http, host, loras):
    host.repos["acme/tiny-lora"] = {"tiny.safetensors": loras["a"].read_bytes()}
    host.repos["acme/two-loras"] = {"one.safetensors": loras["a"].read_bytes(),
                                    "two.safetensors": loras["b"].read_bytes()}
    by_url = image(http, run(http, DEV_LORA, lora_weights=host.url("/loras/a.safetensors")))
    repo = run(http, DEV_LORA, lora_weights="huggingface.co/acme/tiny-lora")
    assert image(http, repo) == by_url
    assert host.requests["/api/models/acme/tiny-lora"] == 1
    named = run(http, DEV_LORA,
                lora_weights="https://huggingface.co/acme/two-loras/two.safetensors")
    assert image(http, named) == image(http, run(
        http, DEV_LORA, lora_weights=host.url("/loras/b.safetensors")))
    two = run(http, DEV_LORA, lora_weights="huggingface.co/acme/two-loras")
    assert two["status"] == "failed"
    assert two["error"].startswith("lora_weights: acme/two-loras holds 2 .safetensors files")
    missing = run(http, SCHNELL_LORA, lora_weights="huggingface.co/acme/nothing-here")
    assert missing["error"] == ("lora_weights: the hub has no repository acme/nothing-here "
                                "(at revision main)")


def test_a_gated_repository_needs_the_token(http, host, loras):
    host.repos["acme/gated"] = {"g.safetensors": loras["i"].read_bytes()}
    host.gated["acme/gated"] = "hf_secret_token"
    refused = run(http, DEV_LORA, lora_weights="huggingface.co/acme/gated")
    assert refused["status"] == "failed"
    assert "gated or private: give a token that can read it in hf_api_token" in refused["error"]
    opened = run(http, DEV_LORA, lora_weights="huggingface.co/acme/gated",
                 hf_api_token="hf_secret_token")
    assert opened["status"] == "succeeded", opened["error"]
    assert opened["input"]["hf_api_token"] == "**********"
    assert ("/api/models/acme/gated", "Bearer hf_secret_token") in host.authorizations


def test_a_lora_uploaded_through_the_files_api(server, http, host, loras):
    with httpx.HTTPTransport() as transport:
        client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                  transport=transport)
        with loras["a"].open("rb") as file:
            uploaded = client.files.create(file)
        output = client.run(DEV_LORA, input={
            "prompt": "a boat", "megapixels": "0.25", "num_inference_steps": 2, "seed": 3,
            "output_format": "png", "lora_weights": uploaded.urls["get"]})
        by_upload = hashlib.sha256(httpx.get(output[0]).content).hexdigest()
        with loras["sdxl"].open("rb") as file:
            wrong = client.files.create(file)
        with loras["wide"].open("rb") as file:
            wide = client.files.create(file)
    assert by_upload == image(http, run(http, DEV_LORA,
                                        lora_weights=host.url("/loras/a.safetensors")))
    kept = set((server.data_dir / "loras").iterdir())
    # an upload is on this server's disk: one that is no FLUX.1 LoRA is refused at once
    response = http.post(f"/v1/models/{DEV_LORA}/predictions", json={"input": {
        "prompt": "x", "extra_lora": wrong.urls["get"]}})
    assert response.status_code == 422, response.text
    [problem] = response.json()["invalid_fields"]
    assert problem["field"] == "input.extra_lora"
    assert problem["description"].startswith(
        "the uploaded file is not a LoRA for FLUX.1 [dev]: it is a LoRA for Stable Diffusion")
    missing = wrong.urls["get"].replace(wrong.id, "f" * len(wrong.id))
    response = http.post(f"/v1/models/{DEV_LORA}/predictions", json={"input": {
        "prompt": "x", "lora_weights": missing}})
    assert response.status_code == 422, response.text
    assert "is no file uploaded by this account" in response.text
    # one whose layers do not fit the base's sizes fails when it runs, saying so
    refused = run(http, DEV_LORA, lora_weights=wide.urls["get"])
    assert refused["status"] == "failed"
    assert refused["error"].startswith(f"lora_weights: {wide.urls['get']} is not a LoRA for "
                                       "FLUX.1 [dev]: its layer")
    assert set((server.data_dir / "loras").iterdir()) == kept  # and it was not kept


@pytest.mark.parametrize(("name", "says"), [
    ("sdxl", "is not a LoRA for FLUX.1 [dev]: it is a LoRA for Stable Diffusion"),
    ("wide", "is not a LoRA for FLUX.1 [dev]: its layer transformer.single_transformer_blocks"
             ".0.attn.to_k maps 64 features to 64; FLUX.1 [dev]'s maps 32 to 32: a LoRA for "
             "another model"),
    ("checkpoint", "is not a LoRA for FLUX.1 [dev]: it holds no LoRA weights"),
])
def test_a_file_that_is_no_lora_for_the_model_fails_naming_the_input(http, host, name, says):
    url = host.url(f"/loras/{name}.safetensors")
    done = run(http, DEV_LORA, lora_weights=url)
    assert done["status"] == "failed"
    assert done["error"].startswith(f"lora_weights: {url} ")
    assert says in done["error"]
    extra = run(http, DEV_LORA, lora_weights=host.url("/loras/a.safetensors"), extra_lora=url)
    assert extra["error"].startswith(f"extra_lora: {url} ")


@pytest.mark.parametrize(("model", "value", "says"), [
    (DEV_LORA, "https://example.com/lora.png", "https://example.com/lora.png is not a "
     ".safetensors file"),
    (DEV_LORA, "fofr/flux-pixar-cars", "looks like a Replicate model"),
    (SCHNELL_LORA, "civitai.com/models/12345", "CivitAI LoRAs are not served by Replicast"),
    (SCHNELL_LORA, "just some words", "names no LoRA"),
])
def test_a_value_that_names_no_safetensors_file_is_a_422(http, model, value, says):
    response = http.post(f"/v1/models/{model}/predictions",
                         json={"input": {"prompt": "x", "lora_weights": value}})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [f["field"] for f in problem["invalid_fields"]] == ["input.lora_weights"]
    assert says in problem["invalid_fields"][0]["description"]
    assert "huggingface.co/<owner>/<repo>" in problem["invalid_fields"][0]["description"]


def test_a_download_that_fails_fails_the_prediction_and_the_server_goes_on(http, host):
    missing = run(http, DEV_LORA, lora_weights=host.url("/loras/missing.safetensors"))
    assert missing["status"] == "failed"
    assert missing["error"] == (f"lora_weights: fetching {host.url('/loras/missing.safetensors')}"
                                " failed: HTTP 404")
    host.hang.add("/loras/hangs.safetensors")
    hung = run(http, DEV_LORA, lora_weights=host.url("/loras/hangs.safetensors"))
    assert hung["status"] == "failed"
    assert hung["error"] == (f"lora_weights: fetching {host.url('/loras/hangs.safetensors')} "
                             "took longer than 3 s")
    nowhere = f"http://127.0.0.1:{free_port()}/lora.safetensors"
    closed = run(http, DEV_LORA, lora_weights=nowhere)
    assert closed["status"] == "failed"
    assert closed["error"].startswith("lora_weights: cannot reach 127.0.0.1 from this server")
    assert image(http, run(http, DEV_LORA, lora_weights=host.url("/loras/a.safetensors")))


def test_a_larger_file_than_the_limit_is_refused(http, host, loras, server):
    big = loras["a"].read_bytes() * 5
    host.files["/loras/big.safetensors"] = big
    done = run(http, DEV_LORA, lora_weights=host.url("/loras/big.safetensors"))
    assert done["status"] == "failed"
    assert "is larger than" in done["error"] and "REPLICAST_LORA_MAX_BYTES" in done["error"]
    assert not any(hashlib.sha256(big).hexdigest() in p.name
                   for p in (server.data_dir / "loras").iterdir())
    assert os.listdir(server.data_dir / "loras")  # the others are still there
