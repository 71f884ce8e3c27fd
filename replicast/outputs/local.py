"""Output files in a local folder, served by Replicast itself under ``/outputs``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

from replicast.outputs.base import OutputStore

URL_PREFIX = "/outputs"


def _safe_part(part: str) -> bool:
    return bool(part) and part not in {".", ".."} and "/" not in part and "\\" not in part \
        and "\x00" not in part


class LocalOutputs(OutputStore):
    """Files under ``root/<prediction id>/<folder>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, base_url: str, prediction_id: str, folder: str, name: str,
                   data: bytes) -> str:
        if not all(_safe_part(p) for p in (prediction_id, folder, name)):
            raise ValueError(f"unsafe output file name {name!r}")
        target = self.root / prediction_id / folder / name
        await asyncio.to_thread(_write_atomically, target, data)
        return f"{base_url}{URL_PREFIX}/{prediction_id}/{folder}/{quote(name, safe='')}"

    def locate(self, prediction_id: str, folder: str, name: str) -> Path | None:
        """The file behind an output URL's path, or None if there is none."""
        if not all(_safe_part(p) for p in (prediction_id, folder, name)):
            return None
        path = self.root / prediction_id / folder / name
        return path if path.is_file() else None


    async def remove(self, prediction_id: str) -> None:
        """Delete every file of a prediction (its data is past retention)."""
        if _safe_part(prediction_id):
            await asyncio.to_thread(_remove_tree, self.root / prediction_id)


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
