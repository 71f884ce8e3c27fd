"""Output files: where a prediction's files live and the URLs they are served at."""

from __future__ import annotations

import abc
import mimetypes
from collections.abc import Sequence


def content_type(name: str) -> str:
    """The media type served for a file called ``name``."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    known = {"webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
             "gif": "image/gif", "txt": "text/plain; charset=utf-8", "json": "application/json"}
    if suffix in known:
        return known[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


class OutputStore(abc.ABC):
    """Keeps output files and makes their URLs."""

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

    @abc.abstractmethod
    async def discard(self, prediction_id: str, folder: str, names: Sequence[str]) -> None:
        """Delete these files of one run (``folder``), which its outcome does not name."""
