"""Which files are LoRAs for a FLUX.1 model, read from their headers."""

from __future__ import annotations

import struct

import pytest

from replicast.models.lora.check import FluxShape, NotForThisModel, check, check_shapes

# FLUX.1 [dev]'s real sizes: 3072 features, MLP 12288, 19 double and 38 single blocks.
DEV = FluxShape(name="FLUX.1 [dev]", inner=3072, mlp=12288, in_channels=64, out=64, joint=4096,
                pooled=768, guidance=True, double=19, single=38, clip_hidden=768,
                clip_mlp=3072, clip_layers=12)
SCHNELL = FluxShape(**{**{f: getattr(DEV, f) for f in DEV.__slots__},
                       "name": "FLUX.1 [schnell]", "guidance": False})


def pair(name, n_in, n_out, rank=16, down=".lora_A.weight", up=".lora_B.weight"):
    return {f"{name}{down}": [rank, n_in], f"{name}{up}": [n_out, rank]}


def kohya(name, n_in, n_out, rank=16):
    return {**pair(name, n_in, n_out, rank, ".lora_down.weight", ".lora_up.weight"),
            f"{name}.alpha": []}


@pytest.mark.parametrize("tensors", [
    # diffusers/PEFT, as diffusers' training scripts save it
    {**pair("transformer.transformer_blocks.0.attn.to_q", 3072, 3072),
     **pair("transformer.transformer_blocks.18.ff.net.0.proj", 3072, 12288),
     **pair("transformer.single_transformer_blocks.37.proj_out", 15360, 3072),
     **pair("transformer.time_text_embed.guidance_embedder.linear_1", 256, 3072),
     **pair("text_encoder.text_model.encoder.layers.11.mlp.fc1", 768, 3072)},
    # kohya's sd-scripts, with the original (BFL) layer names
    {**kohya("lora_unet_double_blocks_0_img_attn_qkv", 3072, 9216),
     **kohya("lora_unet_single_blocks_37_linear1", 3072, 21504),
     **kohya("lora_unet_single_blocks_0_linear2", 15360, 3072),
     **kohya("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768)},
    # ComfyUI's
    {**kohya("diffusion_model.double_blocks.3.txt_mod.lin", 3072, 18432),
     **kohya("diffusion_model.final_layer.linear", 3072, 64),
     **pair("text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q", 4096,
            4096)},  # dropped by diffusers, not refused
    # kohya over diffusers' names
    {**kohya("lora_transformer_single_transformer_blocks_5_attn_to_k", 3072, 3072),
     **kohya("lora_transformer_context_embedder", 4096, 3072)},
    # the old diffusers format
    pair("transformer.x_embedder", 64, 3072, down=".lora.down.weight", up=".lora.up.weight"),
])
def test_flux1_loras_in_the_formats_diffusers_loads(tensors):
    info = check_shapes(tensors, DEV)
    adapted = [k for k in tensors if ("lora_B" in k or "lora_up" in k or "lora.up" in k)
               and "t5xxl" not in k]
    assert (info.rank, info.layers) == (16, len(adapted))


@pytest.mark.parametrize(("tensors", "says"), [
    ({"model.diffusion_model.double_blocks.0.img_attn.qkv.weight": [9216, 3072]} |
     {f"double_blocks.{i}.img_mod.lin.weight": [18432, 3072] for i in range(19)},
     "it holds no LoRA weights: a full model checkpoint, not a LoRA"),
    ({"weights": [10]}, "it holds no LoRA weights: a file, not a LoRA"),
    (kohya("lora_unet_down_blocks_1_attentions_0_proj_in", 640, 640),
     "it is a LoRA for Stable Diffusion (its layers are a UNet's), not for FLUX.1 [dev]"),
    (pair("unet.mid_block.attentions.0.proj_in", 1280, 1280), "for Stable Diffusion"),
    (kohya("lora_unet_input_blocks_4_1_proj_in", 640, 640), "for Stable Diffusion"),
    (pair("transformer.single_transformer_blocks.0.attn.to_qkv_mlp_proj", 3072, 27648),
     "it is a LoRA for FLUX.2, not for FLUX.1 [dev]"),
    (pair("transformer.transformer_blocks.0.ff.linear_in", 6144, 36864), "for FLUX.2"),
    ({**pair("transformer.x_embedder", 128, 3072),
      "transformer.transformer_blocks.0.attn.norm_q.weight": [128]},
     "it is a FLUX.1 Control LoRA (Canny or Depth)"),
    (pair("transformer.x_embedder", 128, 3072), "Control LoRA"),
    (pair("transformer.transformer_blocks.19.attn.to_q", 3072, 3072),
     "its layer transformer.transformer_blocks.19.attn.to_q is not one of FLUX.1 [dev]'s"),
    (pair("transformer.transformer_blocks.0.attn.to_q", 6144, 6144),
     "its layer transformer.transformer_blocks.0.attn.to_q maps 6144 features to 6144; "
     "FLUX.1 [dev]'s maps 3072 to 3072: a LoRA for another model"),
    ({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": [16, 3072]},
     "lacks one of the two halves"),
    ({**pair("transformer.proj_out", 3072, 64), "transformer.proj_out.weight": [64, 3072]},
     "it holds transformer.proj_out.weight, which is no part of a LoRA for FLUX.1 [dev]"),
])
def test_what_is_refused_and_why(tensors, says):
    with pytest.raises(NotForThisModel) as refused:
        check_shapes(tensors, DEV)
    assert says in str(refused.value)


def test_a_guidance_lora_fits_dev_but_not_schnell():
    tensors = pair("transformer.time_text_embed.guidance_embedder.linear_2", 3072, 3072)
    check_shapes(tensors, DEV)
    with pytest.raises(NotForThisModel, match=r"not one of FLUX\.1 \[schnell\]'s"):
        check_shapes(tensors, SCHNELL)


def test_the_shape_is_read_from_the_weights_folder(tmp_path):
    (tmp_path / "transformer").mkdir()
    (tmp_path / "text_encoder").mkdir()
    (tmp_path / "transformer" / "config.json").write_text(
        '{"num_attention_heads": 24, "attention_head_dim": 128, "in_channels": 64, '
        '"num_layers": 19, "num_single_layers": 38, "guidance_embeds": true, '
        '"joint_attention_dim": 4096, "pooled_projection_dim": 768, "patch_size": 1}')
    (tmp_path / "text_encoder" / "config.json").write_text(
        '{"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}')
    assert FluxShape.read(tmp_path, "FLUX.1 [dev]") == DEV


def test_files_that_are_no_safetensors(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"abc")
    with pytest.raises(NotForThisModel, match="not a safetensors file"):
        check(short, DEV)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")  # a header of a terabyte: not read
    with pytest.raises(NotForThisModel, match="header is larger than"):
        check(huge, DEV)
    html = tmp_path / "page.safetensors"
    html.write_bytes(b"<!doctype html><html><body>Sign in</body></html>")
    with pytest.raises(NotForThisModel, match="not a safetensors file"):
        check(html, DEV)


def test_a_real_file_is_checked_from_its_header(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "lora.safetensors"
    save_file({"transformer.proj_out.lora_A.weight": np.zeros((4, 3072), np.float32),
               "transformer.proj_out.lora_B.weight": np.zeros((64, 4), np.float32)}, str(path))
    assert check(path, DEV).rank == 4


def test_the_kind_is_told_without_the_model_s_sizes():
    from replicast.models.lora.check import check_kind

    wide = pair("transformer.transformer_blocks.0.attn.to_q", 6144, 6144)
    assert set(check_kind(wide, "FLUX.1 [dev]")) == {"transformer.transformer_blocks.0.attn.to_q"}
    with pytest.raises(NotForThisModel, match=r"for FLUX\.2, not for FLUX\.1 \[schnell\]"):
        check_kind(pair("transformer.transformer_blocks.0.ff.linear_in", 6144, 36864),
                   "FLUX.1 [schnell]")
