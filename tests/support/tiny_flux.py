"""Tiny random-weight FLUX pipelines, built offline, saved in the hub repos' layout.

They keep the real shape contract (VAE scale factor 8, latents packed 2x2: 16 channels
for FLUX.1, 32 for FLUX.2; sizes in multiples of 16), so every Replicate size works, but
weigh a megabyte or so and run a step in milliseconds on a CPU. Their architectures are
the package's tiny configs (``replicast/models/configs/tiny.json``, which
``REPLICAST_RANDOM_WEIGHTS_SIZE=tiny`` serves too), initialised as their classes do; the
tokenizers are ``replicast.models.offline_tokenizers``', made instead of downloaded.

FLUX.2's text encoders keep the real depth (its pipelines read hidden layers 10/20/30 of
Mistral Small and 9/18/27 of Qwen3) at a width of 16 (24 for the Qwen3 of the 9B models).
"""

from __future__ import annotations

import json
from pathlib import Path


def _components(guidance: bool, dynamic_shift: bool) -> dict:
    import torch

    from replicast.models import offline_tokenizers
    from replicast.models.random_weights import construct

    variant = "dev" if guidance else "schnell"
    torch.manual_seed(0)
    return {
        "transformer": construct("tiny", f"flux1-{variant}-transformer"),
        "text_encoder": construct("tiny", "clip-l"),
        "text_encoder_2": construct("tiny", "t5-xxl"),
        "tokenizer": offline_tokenizers.clip(),
        "tokenizer_2": offline_tokenizers.t5(),
        "vae": construct("tiny", "flux1-vae"),
        "scheduler": construct("tiny", f"flux1-{'dev' if dynamic_shift else 'schnell'}-scheduler"),
    }


def build(kind: str, folder: Path) -> Path:
    """Save a tiny pipeline of ``kind`` (schnell, dev or kontext) into ``folder``."""
    from diffusers import FluxKontextPipeline, FluxPipeline

    if kind == "schnell":
        pipeline = FluxPipeline(**_components(guidance=False, dynamic_shift=False))
    elif kind == "dev":
        pipeline = FluxPipeline(**_components(guidance=True, dynamic_shift=True))
    elif kind == "kontext":
        pipeline = FluxKontextPipeline(**_components(guidance=True, dynamic_shift=True))
    else:
        raise ValueError(kind)
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def build_weights_dir(root: Path) -> Path:
    """A ``REPLICAST_WEIGHTS_DIR`` holding all three FLUX models, tiny."""
    build("schnell", root / "black-forest-labs" / "flux-schnell")
    build("dev", root / "black-forest-labs" / "flux-dev")
    build("kontext", root / "black-forest-labs" / "flux-kontext-pro")
    return root


def build_safety_checker(folder: Path, *, flag_everything: bool) -> Path:
    """A tiny ``StableDiffusionSafetyChecker`` that flags every image, or none."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                     "num_hidden_layers": 1, "vocab_size": 100},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                       "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config)
    # A concept is detected when cosine similarity minus its threshold is positive:
    # thresholds far below -1 flag everything, far above 1 nothing.
    threshold = -10.0 if flag_everything else 10.0
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(10.0)
    checker.save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
                       ).save_pretrained(folder)
    return folder


# FLUX.2: the models, and where ``replicast weights pull`` puts the text encoders they share.
FLUX2_DEV = "black-forest-labs/flux-2-dev"
KLEIN = {
    "black-forest-labs/flux-2-klein-4b": ("qwen3-4b", True),
    "black-forest-labs/flux-2-klein-4b-base": ("qwen3-4b", False),
    "black-forest-labs/flux-2-klein-9b": ("qwen3-8b", True),
    "black-forest-labs/flux-2-klein-9b-base": ("qwen3-8b", False),
}
"""Each klein model: its shared text encoder and whether it is step-distilled."""
KLEIN_WIDTH = {"qwen3-4b": 16, "qwen3-8b": 24}
"""Hidden size of each tiny Qwen3 (the real ones differ too: 2560 and 4096)."""
SHARED_ENCODERS = "text-encoders"


def _flux2_transformer(joint_attention_dim: int, guidance: bool):
    from replicast.models.random_weights import construct

    return construct("tiny", "flux2-dev-transformer", joint_attention_dim=joint_attention_dim,
                     guidance_embeds=guidance)


def _flux2_shared_parts() -> dict:
    """The VAE and scheduler of every FLUX.2 model, tiny (the real ones are shared too)."""
    from replicast.models.random_weights import construct

    return {"vae": construct("tiny", "flux2-vae"),
            "scheduler": construct("tiny", "flux2-scheduler")}


def build_flux2_dev(folder: Path) -> Path:
    """Save a tiny FLUX.2 [dev] (``Flux2Pipeline``, a 30-layer Mistral3 of width 16)."""
    import torch
    from diffusers import Flux2Pipeline

    from replicast.models import offline_tokenizers
    from replicast.models.random_weights import construct

    torch.manual_seed(0)
    tokenizer = offline_tokenizers.mistral()
    transformer = _flux2_transformer(joint_attention_dim=3 * 16, guidance=True)
    encoder = construct("tiny", "mistral-small-3.1",
                        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"))
    pipeline = Flux2Pipeline(transformer=transformer, text_encoder=encoder, tokenizer=tokenizer,
                             **_flux2_shared_parts())
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def build_qwen3_encoder(folder: Path, width: int) -> Path:
    """Save a tiny Qwen3 text encoder and its tokenizer, as ``pull`` shares them."""
    import torch

    from replicast.models import offline_tokenizers
    from replicast.models.random_weights import construct

    group = {value: key for key, value in KLEIN_WIDTH.items()}[width]
    torch.manual_seed(width)
    tokenizer = offline_tokenizers.qwen()
    encoder = construct("tiny", group)
    encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
    tokenizer.save_pretrained(folder / "tokenizer")
    return folder


def build_klein(model: str, folder: Path, encoder: Path) -> Path:
    """Save a tiny FLUX.2 [klein] (``Flux2KleinPipeline``) whose text encoder and tokenizer
    live in ``encoder`` (see ``build_qwen3_encoder``), not in ``folder``."""
    import shutil

    import torch
    from diffusers import Flux2KleinPipeline
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    group, distilled = KLEIN[model]
    torch.manual_seed(1)
    pipeline = Flux2KleinPipeline(
        transformer=_flux2_transformer(joint_attention_dim=3 * KLEIN_WIDTH[group],
                                       guidance=False),
        text_encoder=Qwen3ForCausalLM.from_pretrained(encoder / "text_encoder"),
        tokenizer=AutoTokenizer.from_pretrained(encoder / "tokenizer"),
        is_distilled=distilled, **_flux2_shared_parts(),
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    for shared in ("text_encoder", "tokenizer"):
        shutil.rmtree(folder / shared)
    return folder


def build_flux2_weights_dir(root: Path) -> Path:
    """A ``REPLICAST_WEIGHTS_DIR`` holding FLUX.2 [dev] and the four [klein] models, tiny,
    each Qwen3 stored once for the two models that share it."""
    build_flux2_dev(root / FLUX2_DEV)
    for model, (group, _) in KLEIN.items():
        encoder = root / SHARED_ENCODERS / group
        if not (encoder / "text_encoder").is_dir():
            build_qwen3_encoder(encoder, KLEIN_WIDTH[group])
        build_klein(model, root / model, encoder)
    return root


# LoRAs for the tiny FLUX.1 transformers (flux-dev-lora, flux-schnell-lora)

LORA_LAYERS = ("to_q", "to_k", "to_v")


def _flux_width(weights: Path) -> int:
    config = json.loads((weights / "transformer" / "config.json").read_text())
    return int(config["num_attention_heads"] * config["attention_head_dim"])


def lora_state(seed: int, width: int, *, rank: int = 4, blocks: int = 1) -> dict:
    """A random LoRA's tensors in the diffusers/PEFT format (``transformer.<module>.lora_A``
    and ``lora_B``) for FLUX.1 transformers ``width`` features wide: the attention
    projections of the first double and single blocks."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for block in ("transformer_blocks", "single_transformer_blocks"):
        for index in range(blocks):
            for layer in LORA_LAYERS:
                name = f"transformer.{block}.{index}.attn.{layer}"
                tensors[f"{name}.lora_A.weight"] = torch.randn(rank, width, generator=generator)
                tensors[f"{name}.lora_B.weight"] = torch.randn(width, rank, generator=generator)
    return tensors


def build_lora(weights: Path, target: Path, *, seed: int) -> Path:
    """A tiny random LoRA for the FLUX.1 model in the weights folder ``weights``, saved as
    a diffusers/PEFT safetensors file at ``target``."""
    from safetensors.torch import save_file

    save_file(lora_state(seed, _flux_width(weights)), str(target))
    return target


def build_lora_for_another_model(weights: Path, target: Path) -> Path:
    """A LoRA in the right format whose layers are twice as wide as the model's: one
    made for another (larger) model."""
    from safetensors.torch import save_file

    save_file(lora_state(7, 2 * _flux_width(weights)), str(target))
    return target


def build_stable_diffusion_lora(target: Path) -> Path:
    """A kohya-format LoRA for a Stable Diffusion UNet (SDXL's layer names)."""
    import torch
    from safetensors.torch import save_file

    name = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file({f"{name}.lora_down.weight": torch.ones(4, 640),
               f"{name}.lora_up.weight": torch.ones(640, 4),
               f"{name}.alpha": torch.tensor(4.0)}, str(target))
    return target


def build_checkpoint(weights: Path, target: Path) -> Path:
    """Not a LoRA: the tiny transformer's own (small) tensors, as a checkpoint holds them."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights / "transformer" / "diffusion_pytorch_model.safetensors"))
    save_file({k: v for k, v in tensors.items() if v.numel() <= 64}, str(target))
    return target


if __name__ == "__main__":
    import argparse
    import warnings

    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description="tiny random FLUX weights, built offline")
    parser.add_argument("folder", type=Path, help="the REPLICAST_WEIGHTS_DIR to fill")
    parser.add_argument("safety", nargs="?", choices=["flag", "pass"],
                        help="also a safety checker that flags every image, or none")
    parser.add_argument("--family", choices=["flux1", "flux2", "all"], default="all")
    args = parser.parse_args()
    if args.family in ("flux1", "all"):
        build_weights_dir(args.folder)
    if args.family in ("flux2", "all"):
        build_flux2_weights_dir(args.folder)
    if args.safety:
        build_safety_checker(args.folder / "safety-checker",
                             flag_everything=args.safety == "flag")
