"""Output files in a local folder, served by Replicast itself under ``/outputs``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from replicast.disk import disk_full, is_full
from replicast.outputs.base import OutputStore, safe_part
from replicast.private import make_folders
from replicast.urls import OUTPUTS

log = logging.getLogger(__name__)


class LocalOutputs(OutputStore):
    """Files under ``root/<prediction id>/<folder>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    async def save(self, base_url: str, prediction_id: str, folder: str, name: str,
                   data: bytes) -> str:
        if not all(safe_part(p) for p in (prediction_id, folder, name)):
            raise ValueError(f"unsafe output file name {name!r}")
        target = self.root / prediction_id / folder / name
        try:
            await asyncio.to_thread(_write_atomically, target, data)
        except OSError as exc:
            if is_full(exc):
                raise disk_full(self.root, f"cannot save the output file {name}") from exc
            raise
        return f"{base_url}{OUTPUTS}/{prediction_id}/{folder}/{quote(name, safe='')}"

    def locate(self, prediction_id: str, folder: str, name: str) -> Path | None:
        """The file behind an output URL's path, or None if there is none."""
        if not all(safe_part(p) for p in (prediction_id, folder, name)):
            return None
        path = self.root / prediction_id / folder / name
        return path if path.is_file() else None

    async def open(self, prediction_id: str, folder: str, name: str,
                   byte_range: str | None = None) -> Path | None:
        # A file is served whole or in part by the response (FileResponse), not here.
        return await asyncio.to_thread(self.locate, prediction_id, folder, name)

    async def read(self, prediction_id: str, folder: str, name: str,
                   max_bytes: int | None = None) -> bytes | None:
        return await asyncio.to_thread(self._read, prediction_id, folder, name, max_bytes)

    def _read(self, prediction_id: str, folder: str, name: str,
              max_bytes: int | None) -> bytes | None:
        path = self.locate(prediction_id, folder, name)
        return None if path is None else _read(path, max_bytes)

    async def remove(self, prediction_id: str) -> None:
        """Delete every file of a prediction (its data is past retention)."""
        if safe_part(prediction_id):
            await asyncio.to_thread(_remove_tree, self.root / prediction_id)

    async def remove_many(self, prediction_ids: Sequence[str]) -> list[str]:
        # One trip to a thread for all of them: retention removes a hundred at a time.
        return await asyncio.to_thread(_remove_trees, self.root, prediction_ids)

    async def discard(self, prediction_id: str, folder: str, names: Sequence[str]) -> None:
        if all(safe_part(p) for p in (prediction_id, folder, *names)):
            await asyncio.to_thread(_discard, self.root / prediction_id, folder, names)


def _discard(prediction: Path, folder: str, names: Sequence[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (prediction / folder / name).unlink()
    # The folders go too once empty (an earlier run's files may still be beside them).
    for path in (prediction / folder, prediction):
        with contextlib.suppress(OSError):
            path.rmdir()


def _read(path: Path, max_bytes: int | None) -> bytes | None:
    try:
        with path.open("rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError:  # removed meanwhile (retention)
        return None
    return None if max_bytes is not None and len(data) > max_bytes else data


def _remove_trees(root: Path, prediction_ids: Sequence[str]) -> list[str]:
    """Remove each prediction's folder; the ids whose folders are gone."""
    done = []
    for prediction_id in prediction_ids:
        if not safe_part(prediction_id):
            continue
        try:
            _remove_tree(root / prediction_id)
        except OSError as exc:  # a folder not ours to delete, say: the others go on
            log.warning("cannot remove the output files of %s: %s", prediction_id, exc)
            continue
        done.append(prediction_id)
    return done


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _write_atomically(target: Path, data: bytes) -> None:
    make_folders(target.parent)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")  # 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
