"""The LoRAs a prediction names, on local disk and checked: what the runner asks for.

``LoraLibrary.fetch`` turns one ``lora_weights``/``extra_lora`` value into a checked
file in the cache: an upload is read as the prediction's account (never found by URL
in the cache, so one account cannot reach another's upload through it); a hub
repository or a URL is looked up in the cache by its source, and fetched, checked and
kept only when it is not there. A file that is no LoRA for the model is not kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from replicast import downloads
from replicast.config import Settings
from replicast.errors import ModelError
from replicast.models.base import RunContext
from replicast.models.lora import check as lora_check
from replicast.models.lora.cache import Cached, Evicted, LoraCache
from replicast.models.lora.fetch import Fetcher, LoraError, Unreachable
from replicast.models.lora.hub import Hub
from replicast.models.lora.sources import HubSource, NotALora, OwnSource, UrlSource, parse


class LoraLibrary:
    """Fetches, checks and caches LoRAs for the models of one process."""

    def __init__(self, cache: LoraCache, fetcher: Fetcher, hub: Hub) -> None:
        self.cache = cache
        self.fetcher = fetcher
        self.hub = hub

    @classmethod
    def from_settings(cls, settings: Settings) -> LoraLibrary:
        """The library the settings describe (nothing is opened until a LoRA is asked for)."""
        limits = downloads.Limits(settings.lora_max_bytes, settings.lora_fetch_timeout,
                                  settings.download_min_rate)
        fetcher = Fetcher(limits, allow_private=settings.allow_private_urls)
        cache = LoraCache(settings.lora_cache, settings.lora_cache_bytes,
                          partial_age=settings.lora_fetch_timeout + 60)
        return cls(cache, fetcher, Hub(settings.hf_endpoint, fetcher))

    @property
    def max_bytes(self) -> int:
        """The largest LoRA taken."""
        return self.fetcher.limits.max_bytes

    async def fetch(self, context: RunContext, field: str, value: str,
                    shape: lora_check.FluxShape, *, token: str | None = None) -> Cached:
        """The LoRA ``value`` names, cached, checked to fit ``shape``'s model and pinned
        in the cache (``cache.unpin`` it once loaded). ``ModelError`` naming ``field`` if
        it cannot be had."""
        try:
            cached = await self._get(context, value, shape, token)
            try:
                await asyncio.to_thread(lora_check.check, cached.path, shape)
            except BaseException:
                self.cache.unpin(cached.digest)
                raise
        except (NotALora, LoraError, Evicted) as exc:
            raise ModelError(f"{field}: {exc}") from None
        except lora_check.NotForThisModel as exc:
            raise ModelError(f"{field}: {value} is not a LoRA for {shape.name}: {exc}"
                             ) from None
        except ModelError as exc:  # an upload that cannot be read
            raise ModelError(f"{field}: {exc}") from None
        return cached

    async def _get(self, context: RunContext, value: str, shape: lora_check.FluxShape,
                   token: str | None) -> Cached:
        value = value.strip()
        if value.lower().startswith(("http://", "https://")):
            own = await context.own_file(value, max_bytes=self.max_bytes)
            if own is not None:
                cached = await self.cache.add(
                    own.data, lambda path: lora_check.check(path, shape))
                context.log(f"Using the uploaded LoRA {own.name}\n")
                return cached
        source = parse(value)
        if isinstance(source, OwnSource):  # parse() without a base URL makes none
            raise NotALora(f"{value} is no file uploaded here")
        key = self._key(source, token)

        async def produce(target: Path) -> str:
            return await self._download(context, source, token, target, shape)

        cached = await self.cache.get(key, produce)
        if not cached.fetched:
            context.log(f"LoRA {value} found in the cache\n")
        return cached

    def _key(self, source: HubSource | UrlSource, token: str | None) -> str:
        if isinstance(source, UrlSource):
            return source.url
        key = f"hf:{self.hub.endpoint}/{source.repo}@{source.revision}:{source.file or '*'}"
        if token:  # what a token opened is found again only with that token
            key += "#" + hashlib.sha256(token.encode()).hexdigest()
        return key

    async def _download(self, context: RunContext, source: HubSource | UrlSource,
                        token: str | None, target: Path, shape: lora_check.FluxShape) -> str:
        began = time.monotonic()
        async with self.fetcher.session() as client:
            if isinstance(source, HubSource):
                url = await self.hub.file_url(client, source, token)
                headers = self.hub.headers(token)
            else:
                url, headers = source.url, None
            context.log(f"Downloading LoRA weights from {_shown(url)}\n")
            try:
                size, digest = await self.fetcher.download(client, url, target,
                                                           headers=headers)
            except Unreachable as exc:
                if isinstance(source, HubSource):
                    raise Unreachable(f"cannot reach the Hugging Face hub at "
                                      f"{self.hub.endpoint}: {exc}") from None
                raise
        await asyncio.to_thread(lora_check.check, target, shape)
        context.log(f"Downloaded LoRA weights ({size / 1e6:.1f} MB) in "
                    f"{time.monotonic() - began:.1f} s\n")
        return digest


def _shown(url: str) -> str:
    """``url`` without its query (a signed URL's signature stays out of the logs)."""
    return url.partition("?")[0]
