"""Input files: fetching the bytes behind a URL or data URI given as input."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

import httpx

from replicast import downloads
from replicast.errors import ModelError
from replicast.net import PrivateAddressError, guarded_client

_WRITE_BYTES = 1024 * 1024
"""Bytes gathered before each write to disk (one hand-off to a thread per write)."""


class InputFetcher:
    """Downloads input files within limits on size, time and rate (``downloads``)."""

    def __init__(self, *, max_bytes: int, timeout: float, min_rate: int = 0,
                 allow_private: bool = False) -> None:
        self.limits = downloads.Limits(max_bytes, timeout, min_rate)
        # Redirects are followed: every connection, redirected or not, is checked.
        self._client = guarded_client(allow_private=allow_private, timeout=timeout,
                                      follow_redirects=True)

    @property
    def max_bytes(self) -> int:
        """The largest input file taken."""
        return self.limits.max_bytes

    async def close(self) -> None:
        """Release connections (once the responses of canceled downloads are closed)."""
        await self._client.aclose()

    async def fetch(self, url: str) -> bytes:
        """The bytes of ``url`` (http, https or data); ``ModelError`` on any failure."""
        if url.startswith("data:"):
            return self._decode_data_uri(url)
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        await self._download(url, keep)
        return b"".join(chunks)

    async def fetch_to(self, url: str, path: Path) -> int:
        """Write the bytes of ``url`` (http, https or data) to a new file at ``path``;
        how many. ``ModelError`` on any failure (what was written is left to the caller)."""
        if url.startswith("data:"):
            data = self._decode_data_uri(url)
            await asyncio.to_thread(path.write_bytes, data)
            return len(data)
        file = await asyncio.to_thread(path.open, "xb")
        try:
            pending = bytearray()

            async def gather(chunk: bytes) -> None:
                pending.extend(chunk)
                if len(pending) >= _WRITE_BYTES:
                    await _write(file, pending)

            size = await self._download(url, gather)
            await _write(file, pending)
        finally:
            await asyncio.to_thread(file.close)
        return size

    async def _download(self, url: str, write: Callable[[bytes], Awaitable[None]]) -> int:
        if not url.startswith(("http://", "https://")):
            raise ModelError(f"Cannot fetch {url[:80]!r}: only http(s) URLs and data URIs work")
        try:
            # The client hangs up on a canceled download (``net.HangsUp``).
            async with downloads.within(self.limits) as budget, \
                    self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise ModelError(f"Fetching {url} failed: HTTP {response.status_code}")
                return await budget.read(response, write)
        except downloads.TooLarge:
            raise self._too_big(url) from None
        except downloads.TooSlow as exc:
            raise ModelError(f"Fetching {url} {exc.reason}") from None
        except PrivateAddressError as exc:
            raise ModelError(f"Refused to fetch {url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ModelError(f"Fetching {url} took longer than {self.limits.deadline:g} s"
                             ) from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"Fetching {url} failed: {exc}") from exc

    def _too_big(self, url: str) -> ModelError:
        return ModelError(f"The file at {url} is larger than {self.max_bytes} bytes")

    def _decode_data_uri(self, uri: str) -> bytes:
        header, comma, payload = uri[5:].partition(",")
        if not comma:
            raise ModelError("Malformed data URI: it has no ','")
        # base64 grows data by 4/3; refuse early what cannot fit.
        if len(payload) > self.max_bytes * 4 // 3 + 4:
            raise ModelError(f"The data URI is larger than {self.max_bytes} bytes")
        try:
            if header.endswith(";base64"):
                data = base64.b64decode(payload, validate=True)
            else:
                data = unquote_to_bytes(payload)
        except (binascii.Error, ValueError) as exc:
            raise ModelError(f"Malformed data URI: {exc}") from exc
        if len(data) > self.max_bytes:
            raise ModelError(f"The data URI is larger than {self.max_bytes} bytes")
        return data


async def _write(file: BinaryIO, pending: bytearray) -> None:
    """Write what is gathered on a thread (the event loop never waits on the disk)."""
    if pending:
        data = bytes(pending)
        pending.clear()
        await asyncio.to_thread(file.write, data)
