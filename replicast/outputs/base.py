"""Output files: where a prediction's files live and the URLs they are served at."""

from __future__ import annotations

import abc
import mimetypes
from collections.abc import Sequence
from pathlib import Path

from replicast.errors import StorageUnavailable
from replicast.storage.bucket import BucketObject


def safe_part(part: str) -> bool:
    """Whether ``part`` can be one segment of an output file's place (no separators, no
    ``.``/``..``, no NUL)."""
    return bool(part) and part not in {".", ".."} and "/" not in part and "\\" not in part \
        and "\x00" not in part


def content_type(name: str) -> str:
    """The media type served for a file called ``name``."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    known = {"webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
             "gif": "image/gif", "txt": "text/plain; charset=utf-8", "json": "application/json"}
    if suffix in known:
        return known[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


Found = Path | BucketObject
"""An output file found for serving: a local file, or an object opened in the bucket."""


class OutputStore(abc.ABC):
    """Keeps output files and makes their URLs."""

    where: str
    """Where the files are, for messages: a folder, or ``s3://bucket/prefix/outputs/``."""

    @abc.abstractmethod
    async def save(self, base_url: str, prediction_id: str, folder: str, name: str,
                   data: bytes) -> str:
        """Store ``data`` as ``name`` for a prediction; the file's absolute URL.

        ``folder`` is an unguessable token chosen once per run, so URLs cannot be
        enumerated and a rerun never overwrites the files of an earlier run.
        """

    @abc.abstractmethod
    async def remove(self, prediction_id: str) -> None:
        """Delete every file of a prediction; nothing happens if it has none."""

    async def remove_many(self, prediction_ids: Sequence[str]) -> list[str]:
        """Delete every file of these predictions; those whose files are gone (the others'
        could not be deleted now: ``StorageUnavailable``, which the store logs)."""
        done = []
        for prediction_id in prediction_ids:
            try:
                await self.remove(prediction_id)
            except StorageUnavailable:
                continue
            done.append(prediction_id)
        return done

    @abc.abstractmethod
    async def discard(self, prediction_id: str, folder: str, names: Sequence[str]) -> None:
        """Delete these files of one run (``folder``), which its outcome does not name."""

    @abc.abstractmethod
    async def open(self, prediction_id: str, folder: str, name: str,
                   byte_range: str | None = None) -> Found | None:
        """The file behind an output URL's path, ready to serve (``byte_range``, an HTTP
        ``Range`` value, may limit what an opened object sends); None if there is none."""

    @abc.abstractmethod
    async def read(self, prediction_id: str, folder: str, name: str,
                   max_bytes: int | None = None) -> bytes | None:
        """The file's bytes; None if there is none, or it is over ``max_bytes``."""
