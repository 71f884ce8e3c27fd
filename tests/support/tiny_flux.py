"""Tiny random-weight FLUX pipelines, built offline, saved in the hub repos' layout.

They keep the real shape contract (VAE scale factor 8, 16 latent channels packed 2x2,
sizes in multiples of 16), so every Replicate aspect ratio works, but weigh under a
megabyte and run a step in milliseconds on a CPU. The tokenizers are trained here on a
few sentences instead of being downloaded.
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


if __name__ == "__main__":
    import sys
    import warnings

    warnings.simplefilter("ignore")
    target = Path(sys.argv[1])
    build_weights_dir(target)
    if len(sys.argv) > 2:
        build_safety_checker(target / "safety-checker", flag_everything=sys.argv[2] == "flag")
