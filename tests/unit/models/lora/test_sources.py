"""What ``lora_weights``/``extra_lora`` may name."""

from __future__ import annotations

import pytest

from replicast.models.lora.sources import (
    HubSource,
    NotALora,
    OwnSource,
    UrlSource,
    parse,
)

BASE = "https://replicast.example"


@pytest.mark.parametrize(("value", "source"), [
    ("huggingface.co/acme/pixar", HubSource("acme/pixar", None)),
    ("https://huggingface.co/acme/pixar/", HubSource("acme/pixar", None)),
    ("http://www.huggingface.co/acme/pixar", HubSource("acme/pixar", None)),
    ("huggingface.co/acme/pixar/lora.safetensors", HubSource("acme/pixar", "lora.safetensors")),
    ("https://huggingface.co/acme/pixar/blob/main/sub/lora.safetensors",
     HubSource("acme/pixar", "sub/lora.safetensors")),
    ("https://huggingface.co/acme/pixar/resolve/v2/lora.safetensors",
     HubSource("acme/pixar", "lora.safetensors", "v2")),
    ("https://cdn.example/x/lora.safetensors", UrlSource("https://cdn.example/x/lora.safetensors")),
    ("https://bucket.s3.amazonaws.com/l.SAFETENSORS?X-Amz-Signature=abc&X-Amz-Expires=60",
     UrlSource("https://bucket.s3.amazonaws.com/l.SAFETENSORS?X-Amz-Signature=abc&"
               "X-Amz-Expires=60")),
    ("  https://cdn.example/lora.safetensors  ", UrlSource("https://cdn.example/lora.safetensors")),
    (f"{BASE}/v1/files/abc123", OwnSource(f"{BASE}/v1/files/abc123")),
    (f"{BASE}/replicate/v1/files/abc123/download?owner=a&expiry=1&signature=s",
     OwnSource(f"{BASE}/replicate/v1/files/abc123/download?owner=a&expiry=1&signature=s")),
])
def test_the_forms_served(value, source):
    assert parse(value, BASE) == source


def test_hub_file_urls():
    source = HubSource("acme/pixar", "sub dir/lora.safetensors", "refs/pr/1")
    assert source.file_url("https://hub.example", "sub dir/lora.safetensors") == \
        "https://hub.example/acme/pixar/resolve/refs%2Fpr%2F1/sub%20dir/lora.safetensors"


@pytest.mark.parametrize(("value", "says"), [
    ("https://example.com/lora.ckpt", "https://example.com/lora.ckpt is not a .safetensors file"),
    ("https://example.com/lora.safetensors.zip", "is not a .safetensors file"),
    ("https://example.com/v1/files/abc123", "is not a .safetensors file"),  # another server's
    ("fofr/flux-pixar-cars", "looks like a Replicate model"),
    ("https://replicate.com/fofr/flux-pixar-cars", "is not a .safetensors file"),
    ("fofr/flux-pixar-cars/" + "a" * 64, "looks like a Replicate model"),
    ("civitai.com/models/1234/pixar", "CivitAI LoRAs are not served by Replicast"),
    ("https://civitai.com/api/download/models/1234", "CivitAI LoRAs are not served"),
    ("data:application/x-tar;base64,AAAA", "data URIs are not taken for LoRAs"),
    ("a pixar style", "names no LoRA"),
    ("ftp://example.com/lora.safetensors", "names no LoRA"),
])
def test_other_values_are_refused_with_the_forms_served(value, says):
    with pytest.raises(NotALora) as refused:
        parse(value, BASE)
    assert says in str(refused.value)
    assert "huggingface.co/<owner>/<repo>[/<file>.safetensors]" in str(refused.value)

