"""Fetching a LoRA for a run: sources, the hub, limits and the errors a user reads."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save

from replicast import downloads
from replicast.errors import ModelError
from replicast.models.lora.cache import LoraCache
from replicast.models.lora.check import FluxShape
from replicast.models.lora.fetch import Fetcher
from replicast.models.lora.hub import Hub
from replicast.models.lora.library import LoraLibrary
from tests.support.context import RecordingContext
from tests.support.lora_host import LoraHost
from tests.support.server import free_port
from tests.support.trickle import Trickle

SHAPE = FluxShape(name="FLUX.1 [dev]", inner=32, mlp=128, in_channels=64, out=64, joint=32,
                  pooled=32, guidance=True, double=1, single=1, clip_hidden=32, clip_mlp=37,
                  clip_layers=2)
LORA = save({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": np.ones((4, 32),
                                                                                 np.float32),
             "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": np.ones((32, 4),
                                                                                 np.float32)})


def library(tmp_path, *, hub: str = "https://huggingface.co", private: bool = True,
            max_bytes: int = 100_000, deadline: float = 5, min_rate: int = 0) -> LoraLibrary:
    fetcher = Fetcher(downloads.Limits(max_bytes, deadline, min_rate), allow_private=private)
    return LoraLibrary(LoraCache(tmp_path / "loras", 10 * max_bytes), fetcher,
                       Hub(hub, fetcher))


async def fetch(lib: LoraLibrary, value: str, token: str | None = None) -> str:
    context = RecordingContext()
    cached = await lib.fetch(context, "lora_weights", value, SHAPE, token=token)
    assert cached.path.read_bytes() == LORA
    return context.log_text


async def test_a_url_and_a_hub_repository(tmp_path):
    with LoraHost() as host:
        host.files["/a.safetensors"] = LORA
        host.repos["acme/lora"] = {"x.safetensors": LORA}
        lib = library(tmp_path, hub=host.base_url)
        logs = await fetch(lib, host.url("/a.safetensors?signature=secret"))
        assert "Downloading LoRA weights from " + host.url("/a.safetensors\n") in logs
        assert "secret" not in logs
        resolve = host.url("/acme/lora/resolve/main/x.safetensors")
        logs = await fetch(lib, "huggingface.co/acme/lora")
        assert f"Downloading LoRA weights from {resolve}\n" in logs
        assert host.requests["/cdn/acme/lora/x.safetensors"] == 1
        assert "found in the cache" in await fetch(lib, "https://huggingface.co/acme/lora")


async def test_no_route_to_the_hub_is_said_plainly(tmp_path):
    lib = library(tmp_path, hub=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelError) as failed:
        await fetch(lib, "huggingface.co/acme/lora")
    message = str(failed.value)
    assert message.startswith(f"lora_weights: cannot reach the Hugging Face hub at "
                              f"{lib.hub.endpoint}: cannot reach 127.0.0.1 from this server")
    assert "it has no network route there" in message
    assert "Upload the LoRA through the Files API instead, or set REPLICAST_HF_ENDPOINT" in message


async def test_private_addresses_are_refused_as_for_input_files(tmp_path):
    with LoraHost() as host:
        host.files["/a.safetensors"] = LORA
        with pytest.raises(ModelError, match=r"refused to fetch .*not a public address; set "
                                             r"REPLICAST_ALLOW_PRIVATE_URLS"):
            await fetch(library(tmp_path, private=False), host.url("/a.safetensors"))
        assert host.requests["/a.safetensors"] == 0


async def test_too_large_and_too_slow(tmp_path):
    with LoraHost() as host:
        host.files["/big.safetensors"] = LORA * 10
        with pytest.raises(ModelError, match=r"is larger than 1000 bytes \(REPLICAST_LORA_MAX"):
            await fetch(library(tmp_path, max_bytes=1000), host.url("/big.safetensors"))
    trickle = Trickle(interval=0.5, size=10_000, chunk=100)
    try:
        with pytest.raises(ModelError, match="was slower than 1000 bytes a second"):
            await fetch(library(tmp_path, min_rate=1000, deadline=30),
                        trickle.url("slow.safetensors"))
    finally:
        trickle.close()


async def test_a_token_opens_a_gated_repository_and_keys_the_cache(tmp_path):
    with LoraHost() as host:
        host.repos["acme/gated"] = {"g.safetensors": LORA}
        host.gated["acme/gated"] = "t0ken"
        lib = library(tmp_path, hub=host.base_url)
        await fetch(lib, "huggingface.co/acme/gated", token="t0ken")
        # What the token opened is not handed to a request without it.
        with pytest.raises(ModelError, match="gated or private"):
            await fetch(lib, "huggingface.co/acme/gated")
        with pytest.raises(ModelError, match="the token given cannot read it"):
            await fetch(lib, "huggingface.co/acme/gated", token="wrong")
