"""The files service: what the API and the worker ask of uploaded files, account by account.

Every lookup is by account and id, so another account's file is as absent as one that
never existed. A file past its ``expires_at`` is gone for its users at once; the
sweep (``remove_expired``) frees its row and bytes later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from replicast import ids, keyset, times
from replicast.accounts.account import Account
from replicast.errors import (
    FilesQuotaExceeded,
    FileTooLarge,
    NotFound,
    ReplicastError,
    StorageUnavailable,
)
from replicast.files.blobs import ORPHANED, BlobStore
from replicast.files.file import StoredFile
from replicast.files.signing import DownloadSigner
from replicast.files.urls import download_url, own_file_id
from replicast.keyset import Page, Position
from replicast.models.base import OwnFile
from replicast.storage.bucket import BucketObject
from replicast.store.files import FilePageQuery, FileStore
from replicast.urls import API

NOT_FOUND = "File not found"
"""Replicate's words for a file that is not there."""

_SWEEP_BATCH = 500
ORPHAN_AGE = timedelta(hours=1)
"""How old bytes without a record must be to be removed: far older than any upload
between writing its bytes and committing its record (a partial copy is written to
all the while, so it stays young while its upload goes on)."""
ORPHAN_CHECK_INTERVAL = timedelta(hours=1)
"""How often the expiry sweep also looks for such bytes (it lists the whole folder); the
first time one interval after the server starts."""
ORPHAN_KEPT = timedelta(days=7)
"""How long bytes set aside are kept before they are deleted."""
_ORPHANS_TRUSTED = 10
"""With at least this many old blobs, most of them without a record means a folder that
belongs to another database."""
# A signed URL of a file that never expires works for one to two of these; the step
# keeps the URL the same for a while, whoever shows the file.
_UNEXPIRING_LINK_SECONDS = 86400

log = logging.getLogger(__name__)


def _position(f: StoredFile) -> Position:
    return f.created_at, f.id


class FilesService:
    """Creates, reads, lists, deletes and expires uploaded files."""

    def __init__(self, store: FileStore, blobs: BlobStore, signer: DownloadSigner, *,
                 max_bytes: int, retention: float, account_bytes: int = 0,
                 page_size: int = 100,
                 clock: Callable[[], datetime] = times.now) -> None:
        self.store = store
        self.blobs = blobs
        self.signer = signer
        self.max_bytes = max_bytes
        self.retention = retention
        """Seconds a file is kept; 0 keeps it until it is deleted."""
        self.account_bytes = account_bytes
        """Most bytes an account's unexpired files may take; 0 for no limit."""
        self.page_size = page_size
        self._clock = clock
        self._orphans_checked_at = clock()

    async def create(self, account: Account, content: BinaryIO, *, name: str,
                     content_type: str, metadata: dict[str, Any], base_url: str) -> StoredFile:
        """Store ``content`` (read from its start) as a new file of the account.

        ``FileTooLarge`` past ``max_bytes``; ``FilesQuotaExceeded`` when the account's
        files would take more than ``account_bytes`` (checked after the bytes arrived,
        so uploads racing each other may pass it by one file each).
        """
        file_id = ids.file_id()
        digest = await self.blobs.write(file_id, content, self.max_bytes)
        created_at = self._clock()
        if self.account_bytes:
            used = await self.store.total_bytes(account.id, created_at)
            if used + digest.size > self.account_bytes:
                await self.blobs.remove(file_id)
                raise FilesQuotaExceeded(used, self.account_bytes)
        record = StoredFile(
            id=file_id, account_id=account.id, name=name, content_type=content_type,
            size=digest.size, sha256=digest.sha256, md5=digest.md5, metadata=metadata,
            base_url=base_url, created_at=created_at,
            expires_at=created_at + timedelta(seconds=self.retention)
            if self.retention > 0 else None,
        )
        try:
            await self.store.insert(record)
        except BaseException:
            await self.blobs.remove(file_id)
            raise
        return record

    async def get(self, account: Account, file_id: str) -> StoredFile:
        """The account's file; ``NotFound`` if it has none of this id, or it expired."""
        return await self._find(account.id, file_id)

    async def _find(self, account_id: int, file_id: str) -> StoredFile:
        found = None
        if ids.is_file_id(file_id):
            found = await self.store.get(account_id, file_id)
        if found is None or found.expired(self._clock()):
            raise NotFound(NOT_FOUND)
        return found

    async def list(self, account: Account, *, before: Position | None = None,
                   after: Position | None = None) -> Page[StoredFile]:
        """A page of the account's files, newest first."""
        rows = await self.store.page(FilePageQuery(
            account_id=account.id, limit=self.page_size + 1, now=self._clock(),
            before=before, after=after))
        more = len(rows) > self.page_size
        # Read upwards from a cursor, the extra row is the oldest; else the newest.
        results = rows[-self.page_size:] if after is not None else rows[:self.page_size]
        return keyset.page(results, _position, more=more, before=before, after=after)

    async def delete(self, account: Account, file_id: str) -> None:
        """Delete the account's file, bytes and record; ``NotFound`` as ``get``.

        Bytes first, as the expiry sweep does: if removing them fails (the bucket does not
        answer), the file is still there and the delete can be asked again; a record left
        without bytes answers as a deleted file does."""
        await self.get(account, file_id)
        await self.blobs.remove(file_id)
        if not await self.store.delete(account.id, file_id):
            raise NotFound(NOT_FOUND)  # deleted meanwhile

    def download_url(self, f: StoredFile, owner: str, prefix: str = API) -> str:
        """A signed URL of the file's bytes, good until the file expires, under the API
        ``prefix`` given."""
        if f.expires_at is not None:
            expiry = int(f.expires_at.timestamp())
        else:
            step = _UNEXPIRING_LINK_SECONDS
            expiry = (int(self._clock().timestamp()) // step + 2) * step
        return download_url(f.base_url, f.id, owner=owner, expiry=expiry,
                            signature=self.signer.signature(owner, f.id, expiry),
                            prefix=prefix)

    async def signed(self, owner: str, file_id: str, expiry: str,
                     signature: str) -> StoredFile:
        """The file a signed download names, if the signature holds and has not expired;
        ``NotFound`` otherwise (as Replicate answers)."""
        now = self._clock()
        if not self.signer.valid(owner, file_id, expiry, signature, now=now.timestamp()):
            raise NotFound(NOT_FOUND)
        found = await self.store.get_of_owner(owner, file_id)
        if found is None or found.expired(now):
            raise NotFound(NOT_FOUND)
        return found

    async def open(self, f: StoredFile, byte_range: str | None = None) -> Path | BucketObject:
        """The file's bytes ready to serve (``BlobStore.open``); ``NotFound`` if they are
        gone (deleted meanwhile)."""
        found = await self.blobs.open(f.id, byte_range)
        if found is None:
            raise NotFound(NOT_FOUND)
        return found

    async def read(self, account_id: int, file_id: str, *, max_bytes: int) -> bytes:
        """The bytes of the account's file, for a prediction's input; ``NotFound`` as
        ``get``, ``FileTooLarge`` past ``max_bytes`` (the limit on input files)."""
        return await self._bytes(await self._find(account_id, file_id), max_bytes)

    async def _bytes(self, found: StoredFile, max_bytes: int) -> bytes:
        if found.size > max_bytes:
            raise FileTooLarge(max_bytes)
        data = await self.blobs.read(found.id)
        if data is None:
            raise NotFound(NOT_FOUND)
        return data

    async def own_file(self, account_id: int, base_url: str, url: str, *,
                       max_bytes: int) -> OwnFile | None:
        """The account's uploaded file that ``url`` names (a file URL of this server at
        ``base_url``), with its bytes; None for any other URL. ``NotFound`` and
        ``FileTooLarge`` as ``read``."""
        file_id = own_file_id(url, base_url)
        if file_id is None:
            return None
        found = await self._find(account_id, file_id)
        return OwnFile(found.name, found.content_type, await self._bytes(found, max_bytes))

    async def own_file_path(self, account_id: int, base_url: str, url: str) -> Path | None:
        """Where on this machine's disk the bytes of the account's uploaded file that
        ``url`` names lie (as ``own_file``), without reading them; None for any other
        URL, or when uploads are kept in a bucket. ``NotFound`` as ``read``."""
        file_id = own_file_id(url, base_url)
        if file_id is None:
            return None
        found = await self._find(account_id, file_id)
        path = self.blobs.local_path(found.id)
        if path is not None and not await asyncio.to_thread(path.is_file):
            raise NotFound(NOT_FOUND)
        return path

    async def own_file_size(self, account_id: int, base_url: str, url: str) -> int | None:
        """The size of the account's uploaded file that ``url`` names (as ``own_file``),
        without reading it; None for any other URL. ``NotFound`` as ``read``."""
        file_id = own_file_id(url, base_url)
        if file_id is None:
            return None
        return (await self._find(account_id, file_id)).size

    async def remove_expired(self, now: datetime) -> int:
        """Delete the files that expired at or before ``now``; how many.

        Bytes go before records: a crash in between leaves records of expired files
        (invisible, and removed by the next sweep), never bytes nothing points to.
        """
        removed = 0
        while batch := await self.store.list_expired(now, _SWEEP_BATCH):
            # Bytes that cannot be removed now (the bucket logs why) keep their record
            # for a later sweep; the others go on.
            done = [file_id for file_id in batch if await self._remove_blob(file_id)]
            if done:
                removed += await self.store.delete_many(done)
            if len(batch) < _SWEEP_BATCH or not done:
                break
        if removed:
            log.info("removed %d expired files", removed)
        if now - self._orphans_checked_at >= ORPHAN_CHECK_INTERVAL:
            self._orphans_checked_at = now
            await self.remove_orphans(now)
        return removed

    async def _remove_blob(self, file_id: str) -> bool:
        try:
            await self.blobs.remove(file_id)
        except StorageUnavailable:
            return False
        return True

    async def remove_orphans(self, now: datetime) -> int:
        """Set aside the bytes no record points to, older than ``ORPHAN_AGE``: those of
        an upload whose process stopped between writing them and committing the record;
        delete partial copies of uploads it was still receiving, and what was set aside
        ``ORPHAN_KEPT`` ago. How many were set aside or deleted.

        Set aside, not deleted, and not at all when most old bytes have no record: that
        is a files folder beside another database (a new one, or another deployment's
        on a shared volume), not a few interrupted uploads.
        """
        before = (now - ORPHAN_AGE).timestamp()
        blobs = await self.blobs.older_than(before)
        removed = await self.blobs.purge_set_aside((now - ORPHAN_KEPT).timestamp())
        removed += await self.blobs.remove_partials(before)
        orphans: list[str] = []
        for start in range(0, len(blobs), _SWEEP_BATCH):
            batch = blobs[start:start + _SWEEP_BATCH]
            present = await self.store.present(batch)
            orphans += [file_id for file_id in batch if file_id not in present]
        if len(blobs) >= _ORPHANS_TRUSTED and len(orphans) * 2 > len(blobs):
            log.error("%d of the %d files in %s have no record in the database: is it the "
                      "database they belong to? Leaving them all alone", len(orphans),
                      len(blobs), self.blobs.where)
            return removed
        for file_id in orphans:
            await self.blobs.set_aside(file_id)
        if orphans:
            log.warning("set aside %d file(s) left behind by interrupted uploads in %s, "
                        "under %s", len(orphans), self.blobs.where, ORPHANED)
        return removed + len(orphans)


async def read_own_file(files: FilesService | None, account_id: int, base_url: str, url: str,
                        *, max_bytes: int, error: type[ReplicastError]) -> OwnFile | None:
    """The account's uploaded file that ``url`` names, read as ``FilesService.own_file``
    reads it (None for any other URL, or without a files service); one that cannot be
    read, or is larger than ``max_bytes``, raises ``error`` (the caller's: the create's
    ``InvalidInput``, the run's ``ModelError``) saying so."""
    if files is None:
        return None
    try:
        return await files.own_file(account_id, base_url, url, max_bytes=max_bytes)
    except NotFound:
        raise error(f"Cannot read the input file {url}: file not found") from None
    except FileTooLarge:
        raise error(f"The file at {url} is larger than {max_bytes} bytes") from None
    except StorageUnavailable:  # logged by the bucket
        raise error(f"Cannot read the input file {url} now: Replicast's file storage refused "
                    "or did not answer") from None
