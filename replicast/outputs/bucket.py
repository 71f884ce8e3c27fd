"""Output files in a bucket (REPLICAST_STORAGE_URL), under ``<prefix>outputs/``.

Keys follow the local layout, ``outputs/<prediction id>/<run folder>/<name>``, and the
URLs are Replicast's, as with local files: ``/outputs/...`` streams an object through,
or, with presigned URLs on, the links shown are the bucket's own (``presigned``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from replicast.errors import StorageUnavailable
from replicast.outputs.base import OutputStore, content_type, safe_part
from replicast.storage.bucket import Bucket, BucketObject
from replicast.urls import OUTPUTS

FOLDER = "outputs"
_SHOWN = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/avif", "audio/",
          "video/", "text/plain", "application/json")
"""Media types the bucket may serve as they are; anything else (HTML, SVG, ...) it serves
as a download."""


class BucketOutputs(OutputStore):
    """Files as objects ``<prefix>outputs/<prediction id>/<folder>/<name>``."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.where = f"{bucket}{FOLDER}/"
        parts = urlsplit(bucket.object_base)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        """Where presigned URLs point: the bucket's origin."""

    def _key(self, prediction_id: str, folder: str, name: str) -> str | None:
        if not all(safe_part(p) for p in (prediction_id, folder, name)):
            return None
        return self.bucket.key(FOLDER, prediction_id, folder, name)

    async def save(self, base_url: str, prediction_id: str, folder: str, name: str,
                   data: bytes) -> str:
        key = self._key(prediction_id, folder, name)
        if key is None:
            raise ValueError(f"unsafe output file name {name!r}")
        # Served by the bucket itself when links are presigned, without Replicast's
        # sandbox: only types a browser shows without running anything are shown there.
        media = content_type(name)
        shown = media.startswith(_SHOWN)
        await self.bucket.put(key, data, media if shown else "application/octet-stream",
                              attachment=not shown)
        return f"{base_url}{OUTPUTS}/{prediction_id}/{folder}/{quote(name, safe='')}"

    async def open(self, prediction_id: str, folder: str, name: str,
                   byte_range: str | None = None) -> BucketObject | None:
        key = self._key(prediction_id, folder, name)
        return None if key is None else await self.bucket.open(key, byte_range)

    async def read(self, prediction_id: str, folder: str, name: str,
                   max_bytes: int | None = None) -> bytes | None:
        key = self._key(prediction_id, folder, name)
        return None if key is None else await self.bucket.read(key, max_bytes)

    async def remove(self, prediction_id: str) -> None:
        if safe_part(prediction_id):
            await self.bucket.delete_prefix(self.bucket.key(FOLDER, prediction_id, ""))

    async def remove_many(self, prediction_ids: Sequence[str]) -> list[str]:
        # The listings at once (a round trip each), then one delete per thousand keys.
        safe = [p for p in prediction_ids if safe_part(p)]
        listed = await asyncio.gather(
            *(self.bucket.listing(self.bucket.key(FOLDER, p, "")) for p in safe),
            return_exceptions=True)
        found = {p: r for p, r in zip(safe, listed, strict=True)
                 if not isinstance(r, BaseException)}
        for failure in listed:
            if isinstance(failure, BaseException) and not isinstance(failure,
                                                                     StorageUnavailable):
                raise failure
        try:
            await self.bucket.delete([item.key for items in found.values() for item in items])
        except StorageUnavailable:
            return []  # logged by the bucket; the next sweep tries them all again
        return list(found)

    async def discard(self, prediction_id: str, folder: str, names: Sequence[str]) -> None:
        keys = [self._key(prediction_id, folder, name) for name in names]
        await self.bucket.delete([key for key in keys if key is not None])

    def presigned(self, resource: str, *, signed_at: int, expires: int) -> str | None:
        """The bucket's own URL of ``prediction_id/folder/name``, valid from ``signed_at``
        until ``expires``; None for anything else."""
        parts = resource.split("/")
        key = self._key(*parts) if len(parts) == 3 else None
        if key is None:
            return None
        return self.bucket.presigned(key, signed_at=signed_at, expires=expires)
