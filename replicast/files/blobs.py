"""The bytes of uploaded files, one file each under ``<data dir>/files/<id>``.

A blob is copied from the upload into a temporary file beside its final place and
renamed over it when complete, so a reader sees all of it or nothing. Every call
does its blocking I/O on a thread.
"""

from __future__ import annotations

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

_CHUNK = 1 << 20
ORPHANED = ".orphaned"
"""The folder, beside the blobs, of blobs set aside because no record points to them."""


@dataclass(frozen=True, slots=True)
class Digest:
    """What copying a blob learned about it."""

    size: int
    sha256: str
    md5: str


def _safe_id(file_id: str) -> bool:
    return bool(file_id) and file_id.isascii() and file_id.isalnum()


class Blobs:
    """Blobs in one folder, named by file id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, file_id: str) -> Path:
        """Where the blob of ``file_id`` lives (whether or not it is there)."""
        if not _safe_id(file_id):
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

    async def remove(self, file_id: str) -> None:
        """Delete the blob, if it is there."""
        await asyncio.to_thread(self.path(file_id).unlink, True)

    async def older_than(self, instant: float) -> tuple[list[str], list[Path]]:
        """The ids of the blobs last written before ``instant`` (Unix time), and the
        partial copies left before it (by a process that stopped mid-copy)."""
        return await asyncio.to_thread(self._older_than, instant)

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
            elif _safe_id(entry.name):
                blobs.append(entry.name)
        return blobs, partials

    async def set_aside(self, file_id: str) -> None:
        """Move a blob into ``.orphaned/`` (where ``purge_set_aside`` deletes it later)."""
        await asyncio.to_thread(self._set_aside, file_id)

    def _set_aside(self, file_id: str) -> None:
        aside = self.root / ORPHANED
        make_folders(aside)
        with contextlib.suppress(FileNotFoundError):
            target = aside / file_id
            os.replace(self.path(file_id), target)
            os.utime(target)  # kept from now on, not from when it was written

    async def purge_set_aside(self, instant: float) -> int:
        """Delete the blobs set aside before ``instant`` (Unix time); how many."""
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

    async def remove_partial(self, path: Path) -> None:
        """Delete a partial copy ``older_than`` found, if it is still there."""
        if path.parent == self.root and path.name.startswith(".partial-"):
            await asyncio.to_thread(path.unlink, True)

    @staticmethod
    def _write(target: Path, source: BinaryIO, limit: int) -> Digest:
        make_folders(target.parent)
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        size = 0
        source.seek(0)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")  # 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLarge(limit)
                    sha256.update(chunk)
                    md5.update(chunk)
                    handle.write(chunk)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return Digest(size, sha256.hexdigest(), md5.hexdigest())
