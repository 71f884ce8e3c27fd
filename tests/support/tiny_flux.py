"""Tiny random-weight FLUX pipelines, built offline, saved in the hub repos' layout.

They keep the real shape contract (VAE scale factor 8, latents packed 2x2: 16 channels
for FLUX.1, 32 for FLUX.2; sizes in multiples of 16), so every Replicate size works, but
weigh a megabyte or so and run a step in milliseconds on a CPU. The tokenizers are made
here (trained on a few sentences, or byte-level with no merges) instead of downloaded.

FLUX.2's text encoders keep the real depth (its pipelines read hidden layers 10/20/30 of
Mistral Small and 9/18/27 of Qwen3) at a width of 16. FLUX.2 [dev]'s ``tokenizer`` is a
plain tokenizer with a chat template where the hub repo has a ``PixtralProcessor``: that
processor needs torchvision, which CPU-only test machines lack, and the pipeline asks the
two the same (``apply_chat_template``) when no image goes to the text encoder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

SENTENCES = [
    "a paper boat floating on calm water at sunrise",
    "a photo of a cat sitting on a red chair",
    "make the sky purple and add stars",
    "an astronaut riding a horse on the moon",
    "a bowl of fruit on a wooden table",
    "turn the letters into three dimensional shapes",
]


def _clip_tokenizer(folder: Path):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import BpeTrainer
    from transformers import CLIPTokenizer

    tokenizer = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase(),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=300, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                         end_of_word_suffix="</w>",
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(SENTENCES, trainer)
    tokenizer.post_processor = TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)],
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
    }))
    return CLIPTokenizer.from_pretrained(folder)


def _t5_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import UnigramTrainer
    from transformers import T5TokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁")
    tokenizer.decoder = decoders.Metaspace(replacement="▁")
    trainer = UnigramTrainer(vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"],
                             unk_token="<unk>")
    tokenizer.train_from_iterator(SENTENCES, trainer)
    tokenizer.post_processor = TemplateProcessing(single="$A </s>",
                                                  special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 512, "extra_ids": 0, "eos_token": "</s>", "pad_token": "<pad>",
        "unk_token": "<unk>", "tokenizer_class": "T5Tokenizer",
    }))
    return T5TokenizerFast.from_pretrained(folder)


def _components(guidance: bool, dynamic_shift: bool) -> dict:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    scratch = Path(tempfile.mkdtemp(prefix="tiny-flux-tokenizers-"))
    return {
        "transformer": FluxTransformer2DModel(
            patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
            attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
            pooled_projection_dim=32, guidance_embeds=guidance, axes_dims_rope=[4, 6, 6],
        ),
        "text_encoder": CLIPTextModel(CLIPTextConfig(
            hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            vocab_size=400, max_position_embeddings=77, projection_dim=32, bos_token_id=0,
            eos_token_id=1, pad_token_id=1, hidden_act="quick_gelu",
        )),
        "text_encoder_2": T5EncoderModel(T5Config(
            vocab_size=300, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0,
            eos_token_id=1, decoder_start_token_id=0,
        )),
        "tokenizer": _clip_tokenizer(scratch / "clip"),
        "tokenizer_2": _t5_tokenizer(scratch / "t5"),
        "vae": AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=16,
            norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
            shift_factor=0.1159, scaling_factor=0.3611,
        ),
        "scheduler": FlowMatchEulerDiscreteScheduler(
            shift=3.0 if dynamic_shift else 1.0, use_dynamic_shifting=dynamic_shift,
            base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
        ),
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

_QWEN_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{%- endif %}{%- endif %}"
)
_MISTRAL_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}"
    "{%- if message['content'] is string %}{%- set text = message['content'] %}"
    "{%- else %}{%- set text = message['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('') %}{%- endif %}"
    "{%- if message['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{%- elif message['role'] == 'user' %}[INST]{{ text }}[/INST]"
    "{%- else %}{{ text }}{{ eos_token }}{%- endif %}{%- endfor %}"
)


def _byte_vocab(specials: list[str]) -> dict[str, int]:
    """A byte-level BPE vocabulary with no merges: the special tokens, then one per byte."""
    from tokenizers import pre_tokenizers

    tokens = [*specials, *sorted(pre_tokenizers.ByteLevel.alphabet())]
    return {token: index for index, token in enumerate(tokens)}


def _qwen_tokenizer():
    from transformers import Qwen2Tokenizer

    vocab = _byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=512,
                               chat_template=_QWEN_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    return tokenizer


def _mistral_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]",
                "[/SYSTEM_PROMPT]", "[IMG]", "[IMG_BREAK]", "[IMG_END]"]
    backend = Tokenizer(models.BPE(vocab=_byte_vocab(specials), merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", additional_special_tokens=specials[4:], model_max_length=512,
        chat_template=_MISTRAL_TEMPLATE,
    )


def _flux2_transformer(joint_attention_dim: int, guidance: bool):
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1, in_channels=128, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=joint_attention_dim,
        timestep_guidance_channels=256, axes_dims_rope=(4, 4, 4, 4), guidance_embeds=guidance,
    )


def _flux2_shared_parts() -> dict:
    """The VAE and scheduler of every FLUX.2 model, tiny (the real ones are shared too)."""
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler

    return {
        "vae": AutoencoderKLFlux2(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=32,
            norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
            mid_block_add_attention=False,
        ),
        "scheduler": FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
            base_image_seq_len=256, max_image_seq_len=4096, time_shift_type="exponential",
        ),
    }


def build_flux2_dev(folder: Path) -> Path:
    """Save a tiny FLUX.2 [dev] (``Flux2Pipeline``, a 30-layer Mistral3 of width 16)."""
    import torch
    from diffusers import Flux2Pipeline
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = _mistral_tokenizer()
    config = Mistral3Config(
        text_config={
            "model_type": "mistral", "vocab_size": len(tokenizer), "hidden_size": 16,
            "intermediate_size": 32, "num_hidden_layers": 30, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 4, "max_position_embeddings": 1024,
            "rms_norm_eps": 1e-5, "sliding_window": None, "bos_token_id": 1,
            "eos_token_id": 2, "pad_token_id": 3,
        },
        vision_config={
            "model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 4, "intermediate_size": 32, "image_size": 32,
            "patch_size": 8, "num_channels": 3, "head_dim": 4,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"), spatial_merge_size=2,
        vision_feature_layer=-1,
    )
    pipeline = Flux2Pipeline(
        transformer=_flux2_transformer(joint_attention_dim=3 * 16, guidance=True),
        text_encoder=Mistral3ForConditionalGeneration(config), tokenizer=tokenizer,
        **_flux2_shared_parts(),
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def build_qwen3_encoder(folder: Path, width: int) -> Path:
    """Save a tiny Qwen3 text encoder and its tokenizer, as ``pull`` shares them."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(width)
    tokenizer = _qwen_tokenizer()
    encoder = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width,
        num_hidden_layers=27, num_attention_heads=2, num_key_value_heads=2, head_dim=width // 2,
        max_position_embeddings=1024, tie_word_embeddings=True,
    ))
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
