"""Is a file a LoRA for this FLUX.1 model? Read from its safetensors header only.

A LoRA names the layers it adapts and carries two low-rank halves for each
(``lora_A``/``lora_B``, or ``lora_down``/``lora_up``). The layers must be ones the base
model has, and the halves must fit their sizes: the base's sizes come from its
weights folder (``transformer/config.json``, ``text_encoder/config.json``), so the tiny
test pipelines are checked as the real ones are. The formats diffusers loads for
FLUX.1 are known here: diffusers/PEFT (``transformer.<module>``), kohya's
(``lora_unet_double_blocks_0_img_attn_qkv``, ``lora_te1_...``), ComfyUI's
(``diffusion_model.double_blocks.0...``) and kohya's over diffusers' names
(``lora_transformer_...``). A Stable Diffusion LoRA, a FLUX.2 LoRA, a FLUX.1 Control
LoRA, a full checkpoint or anything else is refused, saying which it looks like.

Only the header is read (its length is bounded first), with the ``safetensors``
library; no tensor is loaded.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_HEADER_BYTES = 32 * 1024 * 1024
"""The largest header read (kohya's training metadata can take megabytes)."""

_DOWN = (".lora_A.weight", ".lora_down.weight", ".lora.down.weight")
_UP = (".lora_B.weight", ".lora_up.weight", ".lora.up.weight")
_IGNORED = (".alpha", ".dora_scale", ".diff", ".diff_b")  # diffusers drops or folds these
_IGNORED_PREFIXES = ("text_encoders.t5xxl.",)  # so does it T5's (unsupported, dropped)
_STABLE_DIFFUSION = re.compile(r"^unet\.|(^|[._])(down_blocks|up_blocks|mid_block|input_blocks|"
                               r"output_blocks|middle_block)[._]")
_FLUX2 = re.compile(r"to_qkv_mlp_proj|(double|single)_stream_modulation|ff(_context)?[._]"
                    r"linear_(in|out)")
_CONTROL = re.compile(r"norm_q|norm_k|norm_added_[qk]|query_norm|key_norm")


class NotForThisModel(ValueError):
    """The file is no LoRA this model can load; the message says what it looks like."""


@dataclass(frozen=True, slots=True)
class FluxShape:
    """The sizes of a FLUX.1 model's layers that a LoRA must fit."""

    name: str
    """The model's name for people: ``FLUX.1 [dev]``."""
    inner: int
    mlp: int
    in_channels: int
    out: int
    joint: int
    pooled: int
    guidance: bool
    double: int
    single: int
    clip_hidden: int
    clip_mlp: int
    clip_layers: int

    @classmethod
    def read(cls, folder: Path, name: str) -> FluxShape:
        """The shape of the model in a weights folder (diffusers' layout)."""
        t = json.loads((folder / "transformer" / "config.json").read_text())
        c = json.loads((folder / "text_encoder" / "config.json").read_text())
        inner = t["num_attention_heads"] * t["attention_head_dim"]
        patch, channels = t.get("patch_size", 1), t.get("in_channels", 64)
        return cls(
            name=name, inner=inner, mlp=int(inner * 4.0), in_channels=channels,
            out=patch * patch * (t.get("out_channels") or channels),
            joint=t.get("joint_attention_dim", 4096), pooled=t.get("pooled_projection_dim", 768),
            guidance=bool(t.get("guidance_embeds")), double=t.get("num_layers", 19),
            single=t.get("num_single_layers", 38), clip_hidden=c["hidden_size"],
            clip_mlp=c["intermediate_size"], clip_layers=c["num_hidden_layers"],
        )

    def layers(self) -> dict[str, tuple[int, int]]:
        """Every layer a LoRA may adapt, under each name a known format gives it, with
        its (in, out) features."""
        found: dict[str, tuple[int, int]] = {}
        for name, size in self._diffusers().items():
            found[f"transformer.{name}"] = size
            found["lora_transformer_" + name.replace(".", "_")] = size
        for name, size in self._original().items():
            found[f"diffusion_model.{name}"] = size
            found["lora_unet_" + name.replace(".", "_")] = size
        for name, size in self._clip().items():
            found[f"text_encoder.{name}"] = size
            found[f"text_encoders.clip_l.transformer.{name}"] = size
            found["lora_te1_" + name.replace(".", "_")] = size
            found["lora_te_" + name.replace(".", "_")] = size
        return found

    def _diffusers(self) -> dict[str, tuple[int, int]]:
        d, m = self.inner, self.mlp
        layers: dict[str, tuple[int, int]] = {
            "x_embedder": (self.in_channels, d), "context_embedder": (self.joint, d),
            "proj_out": (d, self.out), "norm_out.linear": (d, 2 * d),
            "time_text_embed.timestep_embedder.linear_1": (256, d),
            "time_text_embed.timestep_embedder.linear_2": (d, d),
            "time_text_embed.text_embedder.linear_1": (self.pooled, d),
            "time_text_embed.text_embedder.linear_2": (d, d),
        }
        if self.guidance:
            layers["time_text_embed.guidance_embedder.linear_1"] = (256, d)
            layers["time_text_embed.guidance_embedder.linear_2"] = (d, d)
        for i in range(self.double):
            block = f"transformer_blocks.{i}"
            for name in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                         "add_v_proj", "to_add_out"):
                layers[f"{block}.attn.{name}"] = (d, d)
            for ff in ("ff", "ff_context"):
                layers[f"{block}.{ff}.net.0.proj"] = (d, m)
                layers[f"{block}.{ff}.net.2"] = (m, d)
            layers[f"{block}.norm1.linear"] = (d, 6 * d)
            layers[f"{block}.norm1_context.linear"] = (d, 6 * d)
        for i in range(self.single):
            block = f"single_transformer_blocks.{i}"
            for name in ("to_q", "to_k", "to_v"):
                layers[f"{block}.attn.{name}"] = (d, d)
            layers[f"{block}.proj_mlp"] = (d, m)
            layers[f"{block}.proj_out"] = (d + m, d)
            layers[f"{block}.norm.linear"] = (d, 3 * d)
        return layers

    def _original(self) -> dict[str, tuple[int, int]]:
        d, m = self.inner, self.mlp
        layers: dict[str, tuple[int, int]] = {
            "img_in": (self.in_channels, d), "txt_in": (self.joint, d),
            "time_in.in_layer": (256, d), "time_in.out_layer": (d, d),
            "vector_in.in_layer": (self.pooled, d), "vector_in.out_layer": (d, d),
            "final_layer.linear": (d, self.out), "final_layer.adaLN_modulation.1": (d, 2 * d),
        }
        if self.guidance:
            layers["guidance_in.in_layer"] = (256, d)
            layers["guidance_in.out_layer"] = (d, d)
        for i in range(self.double):
            for side in ("img", "txt"):
                block = f"double_blocks.{i}.{side}"
                layers[f"{block}_attn.qkv"] = (d, 3 * d)
                layers[f"{block}_attn.proj"] = (d, d)
                layers[f"{block}_mlp.0"] = (d, m)
                layers[f"{block}_mlp.2"] = (m, d)
                layers[f"{block}_mod.lin"] = (d, 6 * d)
        for i in range(self.single):
            layers[f"single_blocks.{i}.linear1"] = (d, 3 * d + m)
            layers[f"single_blocks.{i}.linear2"] = (d + m, d)
            layers[f"single_blocks.{i}.modulation.lin"] = (d, 3 * d)
        return layers

    def _clip(self) -> dict[str, tuple[int, int]]:
        h, m = self.clip_hidden, self.clip_mlp
        layers = {}
        for i in range(self.clip_layers):
            block = f"text_model.encoder.layers.{i}"
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                layers[f"{block}.self_attn.{name}"] = (h, h)
            layers[f"{block}.mlp.fc1"] = (h, m)
            layers[f"{block}.mlp.fc2"] = (m, h)
        return layers


@dataclass(frozen=True, slots=True)
class LoraInfo:
    """What a LoRA that passed the check adapts."""

    layers: int
    rank: int


def read_shapes(path: Path) -> dict[str, list[int]]:
    """Each tensor's shape, from the header of the safetensors file at ``path``."""
    from safetensors import SafetensorError, safe_open

    with path.open("rb") as file:
        head = file.read(8)
    if len(head) < 8:
        raise NotForThisModel("it is not a safetensors file (it is too short)")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER_BYTES:
        raise NotForThisModel(f"it is not a safetensors file, or its header is larger than "
                              f"{MAX_HEADER_BYTES} bytes")
    try:
        with safe_open(str(path), framework="numpy") as tensors:
            return {key: list(tensors.get_slice(key).get_shape())
                    for key in tensors.keys()}  # noqa: SIM118 (it has keys(), no iteration)
    except (SafetensorError, OSError, ValueError) as exc:
        raise NotForThisModel(f"it is not a safetensors file ({exc})") from None


def check(path: Path, shape: FluxShape) -> LoraInfo:
    """Whether the file at ``path`` is a LoRA ``shape``'s model can load; raises
    ``NotForThisModel`` saying why not."""
    return check_shapes(read_shapes(path), shape)


def check_shapes(tensors: dict[str, list[int]], shape: FluxShape) -> LoraInfo:
    """``check`` of a header already read: tensor names to shapes."""
    return _fit(check_kind(tensors, shape.name), shape)


def check_kind(tensors: dict[str, list[int]], name: str) -> dict[str, dict[str, list[int]]]:
    """Whether a header (tensor names to shapes) is a FLUX.1 LoRA of a known format, without
    the model's sizes (``name`` names the model for people); raises ``NotForThisModel``.
    Returns the LoRA's layers, each with its two halves' shapes (``down``, ``up``)."""
    halves, others = _halves(tensors)
    if not halves:
        what = "a full model checkpoint" if len(others) > 8 else "a file"
        raise NotForThisModel(f"it holds no LoRA weights: {what}, not a LoRA")
    names = [*halves, *others]
    if any(_STABLE_DIFFUSION.search(layer) for layer in names):
        raise NotForThisModel(f"it is a LoRA for Stable Diffusion (its layers are a UNet's), "
                              f"not for {name}")
    if any(_FLUX2.search(layer) for layer in names):
        raise NotForThisModel(f"it is a LoRA for FLUX.2, not for {name}")
    if any(_CONTROL.search(layer) for layer in names):
        raise NotForThisModel("it is a FLUX.1 Control LoRA (Canny or Depth), which needs a "
                              "control image that this model does not take")
    if others:
        raise NotForThisModel(f"it holds {others[0]}, which is no part of a LoRA for {name}")
    return halves


def _halves(tensors: dict[str, list[int]]) -> tuple[dict[str, dict[str, list[int]]],
                                                     list[str]]:
    """The tensors that are halves of a LoRA, by layer; and the names of the others."""
    halves: dict[str, dict[str, list[int]]] = {}
    others = []
    for key, size in tensors.items():
        if key.startswith(_IGNORED_PREFIXES) or key.endswith(_IGNORED):
            continue
        for half, suffixes in (("down", _DOWN), ("up", _UP)):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix is not None:
                halves.setdefault(key[:-len(suffix)], {})[half] = size
                break
        else:
            others.append(key)
    return halves, others


def _fit(halves: dict[str, dict[str, list[int]]], shape: FluxShape) -> LoraInfo:
    layers = shape.layers()
    ranks = set()
    for name, pair in halves.items():
        down, up = pair.get("down"), pair.get("up")
        if down is None or up is None or len(down) != 2 or len(up) != 2 or down[0] != up[1]:
            raise NotForThisModel(f"its layer {name} lacks one of the two halves of a LoRA, "
                                  "or they do not fit together")
        expected = layers.get(name)
        if expected is None:
            raise NotForThisModel(f"its layer {name} is not one of {shape.name}'s: a LoRA for "
                                  "another model")
        if name.endswith(("x_embedder", "img_in")) and down[1] > expected[0]:
            raise NotForThisModel("it is a FLUX.1 Control LoRA (Canny or Depth), which needs "
                                  "a control image that this model does not take")
        if (down[1], up[0]) != expected:
            raise NotForThisModel(
                f"its layer {name} maps {down[1]} features to {up[0]}; {shape.name}'s maps "
                f"{expected[0]} to {expected[1]}: a LoRA for another model")
        ranks.add(down[0])
    return LoraInfo(layers=len(halves), rank=max(ranks))
