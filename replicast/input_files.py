"""One prediction's input files on local disk, each distinct URL fetched once, within caps.

The worker fetches the files a prediction's input names (the inputs its schema types as
files) before the prediction takes one of its model's slots, into a temporary folder of
the prediction's own, each under a safe name that keeps its extension (for a file
uploaded to this server, the name it was uploaded with). A list naming one file a
hundred times gets one download and one copy on disk. The run reads them from there
(``RunContext.input_file``, ``fetch_file``); the folder goes when the run ends.

``FileLimits`` caps how many files an input may name and how many bytes the distinct
ones may take in all, so that a small request cannot fill the disk.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from replicast.errors import ModelError
from replicast.models.base import OwnFile

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

FetchTo = Callable[[str, Path], Awaitable[int]]
"""Writes the file behind a URL to a new file at a path; how many bytes."""
ReadOwn = Callable[[str], Awaitable[OwnFile | None]]
"""Reads the file uploaded to this server that a URL names (None: not one of them)."""


@dataclass(frozen=True, slots=True)
class FileLimits:
    """How much one prediction's input files may be (0: no limit)."""

    max_files: int = 0
    """File URLs its input may name, each item of a list counting once."""
    max_bytes: int = 0
    """Bytes the distinct files may take in all."""

    def too_many(self, count: int) -> str | None:
        """Why ``count`` named files are too many, if they are."""
        if self.max_files and count > self.max_files:
            return (f"The input names {count} files; at most {self.max_files} may be given "
                    "to one prediction")
        return None

    def too_large(self, size: int) -> str | None:
        """Why files of ``size`` bytes in all are too large, if they are."""
        if self.max_bytes and size > self.max_bytes:
            return f"The input files are larger than {self.max_bytes} bytes in all"
        return None


NO_LIMITS = FileLimits()


class InputFiles:
    """The input files of one run, fetched into a folder of its own."""

    def __init__(self, fetch_to: FetchTo, read_own: ReadOwn,
                 limits: FileLimits = NO_LIMITS) -> None:
        self._fetch_to = fetch_to
        self._read_own = read_own
        self._limits = limits
        self._folder: Path | None = None
        self._files: dict[str, Path] = {}
        self._used: set[str] = set()
        self._bytes = 0
        self._lock = asyncio.Lock()

    async def prepare(self, urls: Sequence[str]) -> None:
        """Fetch every distinct one of ``urls``; ``ModelError`` on the first failure, or
        when they are more or larger than the limits allow."""
        refusal = self._limits.too_many(len(urls))
        if refusal is not None:
            raise ModelError(refusal)
        for url in dict.fromkeys(urls):
            await self.get(url)

    def prepared(self, url: str) -> Path | None:
        """The local copy of ``url``, if it was fetched already."""
        return self._files.get(url)

    async def get(self, url: str) -> Path:
        """The local copy of ``url``, fetched now if it was not before."""
        async with self._lock:  # two asking for one URL get one download
            found = self._files.get(url)
            if found is not None:
                return found
            if self._folder is None:
                self._folder = Path(await asyncio.to_thread(
                    tempfile.mkdtemp, prefix="replicast-input-"))
            own = await self._read_own(url)
            # Uploaded here: it keeps the name it came with.
            name = file_name(url) if own is None else safe_name(own.name)
            path = self._folder / unique(name, self._used)
            if own is None:
                size = await self._fetch_to(url, path)
            else:
                await asyncio.to_thread(path.write_bytes, own.data)
                size = len(own.data)
            self._bytes += size
            refusal = self._limits.too_large(self._bytes)
            if refusal is not None:
                raise ModelError(refusal)
            self._files[url] = path
            return path

    @property
    def empty(self) -> bool:
        """Whether nothing was fetched (there is no folder to remove)."""
        return self._folder is None

    async def remove(self) -> None:
        """Delete the folder and everything in it."""
        if self._folder is not None:
            await asyncio.to_thread(shutil.rmtree, self._folder, True)
            self._folder = None
            self._files.clear()


def file_name(url: str) -> str:
    """A safe local name for the file behind ``url``, keeping its extension."""
    if url.startswith("data:"):
        mime = url[5:].split(",", 1)[0].split(";", 1)[0]
        return "input" + (mimetypes.guess_extension(mime) or "")
    return safe_name(Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name)


def safe_name(name: str) -> str:
    """``name`` as a local file name that keeps its extension: no separators or odd
    characters, not hidden, at most 100 characters (``input`` when nothing is left)."""
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = _SAFE_NAME.sub("", suffix)[:16]
    stem = _SAFE_NAME.sub("_", stem).strip("._")
    return (stem or "input")[:100 - len(suffix) - 1] + (f".{suffix}" if suffix else "")


def unique(name: str, used: set[str]) -> str:
    """``name``, or ``name-1``, ``name-2``... (before the extension): one not in ``used``."""
    candidate, number = name, 1
    stem, dot, suffix = name.partition(".")
    while candidate in used:
        candidate = f"{stem}-{number}{dot}{suffix}"
        number += 1
    used.add(candidate)
    return candidate
