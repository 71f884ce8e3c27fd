"""Downloading a LoRA: once, within its limits, past the private-address guard.

Every request goes through ``net.guarded_client`` (the rules input files follow:
public addresses only unless REPLICAST_ALLOW_PRIVATE_URLS, never link-local or cloud
metadata addresses, redirects checked too) and runs ``downloads.within`` its
``Limits``: at most REPLICAST_LORA_MAX_BYTES, done within REPLICAST_LORA_FETCH_TIMEOUT,
at REPLICAST_DOWNLOAD_MIN_RATE at least. The body is hashed as it is written, on a
thread, so the cache can file it by its digest without reading it again.

Failures become ``LoraError`` with a message for the prediction's error; a host that
cannot be reached at all is said to be out of this server's reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from replicast import downloads
from replicast.net import PrivateAddressError, guarded_client

_WRITE_BYTES = 1024 * 1024
"""Bytes gathered before each hand-off to the writing thread."""
MAX_API_BYTES = 16 * 1024 * 1024
"""The largest answer taken from the hub's API."""


class LoraError(Exception):
    """A LoRA could not be had; the message says why, for the prediction's error."""


class Unreachable(LoraError):
    """The host could not be reached at all (no route, no name, refused)."""


class Fetcher:
    """Downloads LoRAs (and asks the hub about repositories) within limits."""

    def __init__(self, limits: downloads.Limits, *, allow_private: bool) -> None:
        self.limits = limits
        self.allow_private = allow_private

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[httpx.AsyncClient]:
        """A guarded client for one LoRA's requests (they are few; none is kept open)."""
        async with guarded_client(allow_private=self.allow_private,
                                  timeout=min(self.limits.deadline, 60.0),
                                  follow_redirects=True) as client:
            yield client

    async def download(self, client: httpx.AsyncClient, url: str, target: Path, *,
                       headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        """Write the body of ``url`` to a new file ``target``; its size and sha256."""
        file = await asyncio.to_thread(target.open, "xb")
        digest = hashlib.sha256()
        try:
            pending = bytearray()

            async def gather(chunk: bytes) -> None:
                pending.extend(chunk)
                if len(pending) >= _WRITE_BYTES:
                    await _write(file, digest, pending)

            async with _translated(url, self.limits), downloads.within(self.limits) as budget, \
                    client.stream("GET", url, headers=headers) as response:
                _check_status(url, response)
                size = await budget.read(response, gather)
            await _write(file, digest, pending)
        finally:
            await asyncio.to_thread(file.close)
        return size, digest.hexdigest()

    async def get_json(self, client: httpx.AsyncClient, url: str, *,
                       headers: Mapping[str, str] | None = None) -> Any:
        """The JSON document at ``url`` (the hub's API), at most ``MAX_API_BYTES``."""
        limits = downloads.Limits(MAX_API_BYTES, self.limits.deadline, self.limits.min_rate)
        async with _translated(url, limits), downloads.within(limits) as budget, \
                client.stream("GET", url, headers=headers) as response:
            _check_status(url, response)
            body = await downloads.collect(budget, response)
        try:
            return await asyncio.to_thread(_loads, body)
        except ValueError as exc:
            raise LoraError(f"{url} did not answer with JSON: {exc}") from None


class HttpStatusError(LoraError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _check_status(url: str, response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise HttpStatusError(f"fetching {url} failed: HTTP {response.status_code}",
                              response.status_code)


@contextlib.asynccontextmanager
async def _translated(url: str, limits: downloads.Limits) -> AsyncIterator[None]:
    """Turn what can go wrong with a download into a ``LoraError`` naming ``url``."""
    try:
        yield
    except downloads.TooLarge:
        raise LoraError(f"the file at {url} is larger than {limits.max_bytes} bytes "
                        "(REPLICAST_LORA_MAX_BYTES)") from None
    except downloads.TooSlow as exc:
        raise LoraError(f"fetching {url} {exc.reason}") from None
    except PrivateAddressError as exc:
        raise LoraError(f"refused to fetch {url}: {exc}") from None
    except httpx.TimeoutException:
        raise LoraError(f"fetching {url} took longer than {limits.deadline:g} s") from None
    except httpx.ConnectError as exc:
        host = httpx.URL(url).host
        raise Unreachable(f"cannot reach {host} from this server ({exc or 'no answer'}); "
                          "it has no network route there") from None
    except httpx.HTTPError as exc:
        raise LoraError(f"fetching {url} failed: {exc or type(exc).__name__}") from None


def _loads(body: bytes) -> Any:
    import orjson

    return orjson.loads(body)


async def _write(file: BinaryIO, digest: Any, pending: bytearray) -> None:
    """Hash and write what is gathered, on a thread (the event loop never waits)."""
    if pending:
        data = bytes(pending)
        pending.clear()

        def write() -> None:
            digest.update(data)
            file.write(data)

        await asyncio.to_thread(write)
