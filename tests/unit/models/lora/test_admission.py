"""What a LoRA model refuses at the create: values naming no LoRA, and bad uploads."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from replicast.errors import InvalidInput, NotFound
from replicast.models.lora.admission import check_create
from replicast.models.lora.spec import DEV_LORA, SCHNELL_LORA

BASE = "https://replicast.example"
UPLOAD = f"{BASE}/v1/files/abc"


def uploads(files):
    """An ``OwnFilePath`` over ``files`` (file URL to path); NotFound for other uploads."""
    async def own_path(url):
        if not url.startswith(f"{BASE}/v1/files/"):
            return None
        if url not in files:
            raise NotFound("not found")
        return files[url]
    return own_path


def lora(path, layer="transformer.proj_out", n_in=3072, n_out=64):
    save_file({f"{layer}.lora_A.weight": np.zeros((4, n_in), np.float32),
               f"{layer}.lora_B.weight": np.zeros((n_out, 4), np.float32)}, str(path))
    return path


async def test_values_naming_no_lora_are_refused_naming_each_input():
    with pytest.raises(InvalidInput) as refused:
        await check_create(DEV_LORA, 1 << 30, {"lora_weights": "https://x.example/a.png",
                                               "extra_lora": "words", "lora_scale": 1},
                           BASE, uploads({}))
    assert [f.field for f in refused.value.fields] == ["input.lora_weights", "input.extra_lora"]
    assert {f.type for f in refused.value.fields} == {"invalid_lora"}
    assert "is not a .safetensors file" in refused.value.fields[0].description


async def test_no_lora_an_empty_one_and_remote_ones_pass():
    own = uploads({})
    await check_create(DEV_LORA, 1 << 30, {}, BASE, own)
    await check_create(DEV_LORA, 1 << 30, {"lora_weights": "", "extra_lora": "  "}, BASE, own)
    await check_create(DEV_LORA, 1 << 30, {"lora_weights": "huggingface.co/acme/pixar",
                                           "extra_lora": "https://cdn.example/l.safetensors"},
                       BASE, own)


async def test_an_uploaded_flux_lora_passes(tmp_path):
    own = uploads({UPLOAD: lora(tmp_path / "a.safetensors")})
    await check_create(DEV_LORA, 1 << 30, {"lora_weights": UPLOAD}, BASE, own)


@pytest.mark.parametrize(("model", "layer", "says"), [
    (DEV_LORA, "lora_unet_down_blocks_1_attentions_0_proj_in",
     "the uploaded file is not a LoRA for FLUX.1 [dev]: it is a LoRA for Stable Diffusion"),
    (SCHNELL_LORA, "transformer.single_transformer_blocks.0.attn.to_qkv_mlp_proj",
     "the uploaded file is not a LoRA for FLUX.1 [schnell]: it is a LoRA for FLUX.2"),
])
async def test_an_upload_for_another_model_is_refused(tmp_path, model, layer, says):
    own = uploads({UPLOAD: lora(tmp_path / "x.safetensors", layer, 640, 640)})
    with pytest.raises(InvalidInput) as refused:
        await check_create(model, 1 << 30, {"extra_lora": UPLOAD}, BASE, own)
    [problem] = refused.value.fields
    assert problem.field == "input.extra_lora"
    assert problem.description.startswith(says)


async def test_an_upload_that_is_no_safetensors_file_or_too_large_is_refused(tmp_path):
    page = tmp_path / "page"
    page.write_bytes(b"<!doctype html><title>hello</title>")
    with pytest.raises(InvalidInput, match="not a safetensors file"):
        await check_create(DEV_LORA, 1 << 30, {"lora_weights": UPLOAD}, BASE,
                           uploads({UPLOAD: page}))
    big = lora(tmp_path / "big.safetensors")
    with pytest.raises(InvalidInput, match=r"the largest taken is 100 \(REPLICAST_LORA_MAX"):
        await check_create(DEV_LORA, 100, {"lora_weights": UPLOAD}, BASE,
                           uploads({UPLOAD: big}))


async def test_an_upload_the_account_cannot_read_is_refused():
    with pytest.raises(InvalidInput, match="is no file uploaded by this account"):
        await check_create(DEV_LORA, 1 << 30, {"lora_weights": UPLOAD}, BASE, uploads({}))


async def test_an_upload_deleted_meanwhile_is_left_to_the_run(tmp_path):
    own = uploads({UPLOAD: tmp_path / "gone.safetensors"})
    await check_create(DEV_LORA, 1 << 30, {"lora_weights": UPLOAD}, BASE, own)


async def test_a_server_keeping_no_uploads_leaves_them_to_the_run():
    async def nothing(url):
        return None
    await check_create(DEV_LORA, 1 << 30, {"lora_weights": UPLOAD}, BASE, nothing)
