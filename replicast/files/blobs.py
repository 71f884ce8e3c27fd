"""The bytes of uploaded files, one blob each, named by file id.

``BlobStore`` is what the files service asks of them; ``Blobs`` keeps them under
``<data dir>/files/<id>`` (``bucket_blobs`` keeps them in a bucket). A blob is copied
from the upload into a temporary file beside its final place and renamed over it when
complete, so a reader sees all of it or nothing. Every call does its blocking I/O on a
thread.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from replicast.disk import disk_full, is_full
from replicast.errors import FileTooLarge
from replicast.private import make_folders
from replicast.storage.bucket import BucketObject

_CHUNK = 1 << 20
ORPHANED = ".orphaned"
"""The folder, beside the blobs, of blobs set aside because no record points to them."""


@dataclass(frozen=True, slots=True)
class Digest:
    """What copying a blob learned about it."""

    size: int
    sha256: str
    md5: str


def safe_id(file_id: str) -> bool:
    """Whether ``file_id`` can name a blob (letters and digits only)."""
    return bool(file_id) and file_id.isascii() and file_id.isalnum()


def measure(source: BinaryIO, limit: int, sink: BinaryIO | None = None) -> Digest:
    """Read ``source`` from its start, writing it to ``sink`` if given: its size and
    digests; ``FileTooLarge`` past ``limit`` bytes."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    source.seek(0)
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        sha256.update(chunk)
        md5.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return Digest(size, sha256.hexdigest(), md5.hexdigest())


class BlobStore(abc.ABC):
    """Where the files service keeps the bytes of uploads."""

    where: str
    """Where the blobs are, for messages: a folder, or ``s3://bucket/prefix/files/``."""

    @abc.abstractmethod
    async def write(self, file_id: str, source: BinaryIO, limit: int) -> Digest:
        """Copy ``source`` from its start into the blob; ``FileTooLarge`` past ``limit``
        bytes, leaving nothing behind."""

    @abc.abstractmethod
    async def read(self, file_id: str) -> bytes | None:
        """The blob's bytes, or None if it is not there."""

    @abc.abstractmethod
    async def open(self, file_id: str, byte_range: str | None = None
                   ) -> Path | BucketObject | None:
        """The blob ready to serve (``byte_range`` as ``OutputStore.open``), or None."""

    def local_path(self, file_id: str) -> Path | None:
        """The blob's file on this machine's disk, where blobs are kept on it."""
        return None

    @abc.abstractmethod
    async def remove(self, file_id: str) -> None:
        """Delete the blob, if it is there."""

    @abc.abstractmethod
    async def older_than(self, instant: float) -> list[str]:
        """The ids of the blobs last written before ``instant`` (Unix time)."""

    @abc.abstractmethod
    async def remove_partials(self, instant: float) -> int:
        """Delete partial copies begun before ``instant`` by a process that stopped
        mid-copy; how many."""

    @abc.abstractmethod
    async def set_aside(self, file_id: str) -> None:
        """Move a blob among those set aside (``purge_set_aside`` deletes them later)."""

    @abc.abstractmethod
    async def purge_set_aside(self, instant: float) -> int:
        """Delete the blobs set aside before ``instant`` (Unix time); how many."""


class Blobs(BlobStore):
    """Blobs in one folder, named by file id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def path(self, file_id: str) -> Path:
        """Where the blob of ``file_id`` lives (whether or not it is there)."""
        if not safe_id(file_id):
            raise ValueError(f"unsafe file id {file_id!r}")
        return self.root / file_id

    async def write(self, file_id: str, source: BinaryIO, limit: int) -> Digest:
        """Copy ``source`` from its start into the blob; ``FileTooLarge`` past ``limit``
        bytes, leaving nothing behind."""
        try:
            return await asyncio.to_thread(self._write, self.path(file_id), source, limit)
        except OSError as exc:
            if is_full(exc):
                raise disk_full(self.root, "cannot save the uploaded file") from exc
            raise

    async def read(self, file_id: str) -> bytes | None:
        """The blob's bytes, or None if it is not there."""
        try:
            return await asyncio.to_thread(self.path(file_id).read_bytes)
        except FileNotFoundError:
            return None

    async def open(self, file_id: str, byte_range: str | None = None) -> Path | None:
        path = self.path(file_id)
        return path if await asyncio.to_thread(path.is_file) else None

    def local_path(self, file_id: str) -> Path | None:
        return self.path(file_id)

    async def remove(self, file_id: str) -> None:
        await asyncio.to_thread(self.path(file_id).unlink, True)

    async def older_than(self, instant: float) -> list[str]:
        return (await asyncio.to_thread(self._older_than, instant))[0]

    async def remove_partials(self, instant: float) -> int:
        partials = (await asyncio.to_thread(self._older_than, instant))[1]
        for partial in partials:
            if partial.parent == self.root and partial.name.startswith(".partial-"):
                await asyncio.to_thread(partial.unlink, True)
        return len(partials)

    def _older_than(self, instant: float) -> tuple[list[str], list[Path]]:
        blobs: list[str] = []
        partials: list[Path] = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return blobs, partials
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False) \
                        or entry.stat(follow_symlinks=False).st_mtime >= instant:
                    continue
            except FileNotFoundError:
                continue  # removed meanwhile
            if entry.name.startswith(".partial-"):
                partials.append(Path(entry.path))
            elif safe_id(entry.name):
                blobs.append(entry.name)
        return blobs, partials

    async def set_aside(self, file_id: str) -> None:
        """Move a blob into ``.orphaned/``."""
        await asyncio.to_thread(self._set_aside, file_id)

    def _set_aside(self, file_id: str) -> None:
        aside = self.root / ORPHANED
        make_folders(aside)
        with contextlib.suppress(FileNotFoundError):
            target = aside / file_id
            os.replace(self.path(file_id), target)
            os.utime(target)  # kept from now on, not from when it was written

    async def purge_set_aside(self, instant: float) -> int:
        return await asyncio.to_thread(self._purge_set_aside, instant)

    def _purge_set_aside(self, instant: float) -> int:
        purged = 0
        try:
            entries = list(os.scandir(self.root / ORPHANED))
        except FileNotFoundError:
            return 0
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False) \
                        and entry.stat(follow_symlinks=False).st_mtime < instant:
                    os.unlink(entry.path)
                    purged += 1
        return purged

    @staticmethod
    def _write(target: Path, source: BinaryIO, limit: int) -> Digest:
        make_folders(target.parent)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                digest = measure(source, limit, handle)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return digest
