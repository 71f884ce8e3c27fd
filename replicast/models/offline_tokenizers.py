"""Tokenizers for FLUX pipelines built without their hub repositories.

A pipeline built from configs (``random_weights.py``, the test suite's tiny pipelines)
has no tokenizer files: these make working ones in-process, with no download and no
sentencepiece. CLIP's is byte-level BPE and T5's Unigram, both trained on a few sentences;
Qwen3's and Mistral's are byte-level with no merges, with the chat templates their
pipelines apply. Their ids stay below every vocabulary they are used with, and the
pipelines pad prompts to a fixed length, so a prompt costs the text encoder what it
costs with the real tokenizer.

FLUX.2 [dev]'s tokenizer is a plain tokenizer with a chat template where the hub repo has
a ``PixtralProcessor``: that processor needs torchvision, and the pipeline asks the two
the same (``apply_chat_template``) when no image goes to the text encoder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

SENTENCES = [
    "a paper boat floating on calm water at sunrise",
    "a photo of a cat sitting on a red chair",
    "make the sky purple and add stars",
    "an astronaut riding a horse on the moon",
    "a bowl of fruit on a wooden table",
    "turn the letters into three dimensional shapes",
]

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
MISTRAL_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]",
                    "[/SYSTEM_PROMPT]", "[IMG]", "[IMG_BREAK]", "[IMG_END]"]


def clip() -> Any:
    """A ``CLIPTokenizer`` (77 tokens, ``<|startoftext|>`` 0, ``<|endoftext|>`` 1)."""
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
    # FluxPipeline pads CLIP prompts to model_max_length: without it, padding explodes.
    return _load(CLIPTokenizer, tokenizer, {
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
    })


def t5() -> Any:
    """A T5 tokenizer (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, no ``<extra_id_N>`` tokens)."""
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
    # extra_ids 0: else 100 <extra_id_N> tokens are added past a tiny embedding's end.
    return _load(T5TokenizerFast, tokenizer, {
        "model_max_length": 512, "extra_ids": 0, "eos_token": "</s>", "pad_token": "<pad>",
        "unk_token": "<unk>", "tokenizer_class": "T5Tokenizer",
    })


def _load(cls: Any, tokenizer: Any, config: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory(prefix="replicast-tokenizer-") as scratch:
        folder = Path(scratch)
        tokenizer.save(str(folder / "tokenizer.json"))
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
        return cls.from_pretrained(folder)


def byte_vocab(specials: list[str]) -> dict[str, int]:
    """A byte-level BPE vocabulary with no merges: the special tokens, then one per byte."""
    from tokenizers import pre_tokenizers

    tokens = [*specials, *sorted(pre_tokenizers.ByteLevel.alphabet())]
    return {token: index for index, token in enumerate(tokens)}


def qwen() -> Any:
    """A Qwen2 tokenizer with Qwen3's chat template (259 tokens)."""
    from transformers import Qwen2Tokenizer

    vocab = byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=512,
                               chat_template=_QWEN_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    return tokenizer


def mistral() -> Any:
    """A tokenizer with Mistral Small's special tokens and chat template (267 tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab=byte_vocab(MISTRAL_SPECIALS), merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", additional_special_tokens=MISTRAL_SPECIALS[4:], model_max_length=512,
        chat_template=_MISTRAL_TEMPLATE,
    )
