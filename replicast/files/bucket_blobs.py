"""Uploaded files' bytes in a bucket (REPLICAST_STORAGE_URL), as ``<prefix>files/<id>``.

An object is written whole by one request (or a multipart upload that S3 completes
only at its end), so there are no partial copies to clean up: an upload whose process
stops midway leaves an incomplete multipart upload, which is invisible and which a
bucket lifecycle rule (AbortIncompleteMultipartUpload) removes. Blobs set aside lie
under ``files/.orphaned/``, copied there (so dated from then) and deleted later.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from replicast.files.blobs import ORPHANED, BlobStore, Digest, measure, safe_id
from replicast.storage.bucket import Bucket, BucketObject

FOLDER = "files"
_BLOB_TYPE = "application/octet-stream"


class BucketBlobs(BlobStore):
    """Blobs as objects ``<prefix>files/<id>``."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.where = f"{bucket}{FOLDER}/"

    def _key(self, file_id: str) -> str:
        if not safe_id(file_id):
            raise ValueError(f"unsafe file id {file_id!r}")
        return self.bucket.key(FOLDER, file_id)

    async def write(self, file_id: str, source: BinaryIO, limit: int) -> Digest:
        key = self._key(file_id)
        # Measured first: nothing is sent of a file over the limit.
        digest = await asyncio.to_thread(measure, source, limit)
        await self.bucket.upload(key, source, _BLOB_TYPE)
        return digest

    async def read(self, file_id: str) -> bytes | None:
        return await self.bucket.read(self._key(file_id))

    async def open(self, file_id: str, byte_range: str | None = None) -> BucketObject | None:
        return await self.bucket.open(self._key(file_id), byte_range)

    async def remove(self, file_id: str) -> None:
        await self.bucket.delete([self._key(file_id)])

    async def older_than(self, instant: float) -> list[str]:
        folder = self.bucket.key(FOLDER, "")
        found = await self.bucket.listing(folder, nested=False)
        return [name for item in found
                if item.modified < instant and safe_id(name := item.key[len(folder):])]

    async def remove_partials(self, instant: float) -> int:
        return 0

    async def set_aside(self, file_id: str) -> None:
        await self.bucket.move(self._key(file_id), self.bucket.key(FOLDER, ORPHANED, file_id))

    async def purge_set_aside(self, instant: float) -> int:
        found = await self.bucket.listing(self.bucket.key(FOLDER, ORPHANED, ""))
        old = [item.key for item in found if item.modified < instant]
        await self.bucket.delete(old)
        return len(old)
