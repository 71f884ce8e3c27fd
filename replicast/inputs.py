"""Input files: fetching the bytes behind a URL or data URI given as input."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_to_bytes

import httpx

from replicast.errors import ModelError
from replicast.net import PrivateAddressError, guarded_client


class InputFetcher:
    """Downloads input files with limits on size and time."""

    def __init__(self, *, max_bytes: int, timeout: float, allow_private: bool = False) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        # Redirects are followed: every connection, redirected or not, is checked.
        self._client = guarded_client(allow_private=allow_private, timeout=timeout,
                                      follow_redirects=True)

    async def close(self) -> None:
        """Release connections."""
        await self._client.aclose()

    async def fetch(self, url: str) -> bytes:
        """The bytes of ``url`` (http, https or data); ``ModelError`` on any failure."""
        if url.startswith("data:"):
            return self._decode_data_uri(url)
        if not url.startswith(("http://", "https://")):
            raise ModelError(f"Cannot fetch {url[:80]!r}: only http(s) URLs and data URIs work")
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise ModelError(f"Fetching {url} failed: HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise self._too_big(url)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_big(url)
                    chunks.append(chunk)
                return b"".join(chunks)
        except PrivateAddressError as exc:
            raise ModelError(f"Refused to fetch {url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ModelError(f"Fetching {url} took longer than {self.timeout:g} s") from exc
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
