"""LoRAs on disk: filed by content digest, found by source, bounded, least recently used
go first.

``<root>/<sha256>.safetensors`` holds each LoRA once, however many URLs name it;
``<root>/index/<sha256 of the source key>`` holds the digest a source gave last time,
so a LoRA named again is not downloaded again. A file is written under a ``.partial-``
name, checked, and renamed into place whole. Using a LoRA touches its file; once the
files pass ``max_bytes`` in all, the least recently used go (never one a prediction is
about to load), and index entries naming them with them.

One source fetched by several predictions at once is fetched once: the others wait
for the same download (which stops if every one of them stops waiting). Folders are
0700 and files 0600 (``replicast.private``). All disk work runs on threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from replicast.private import FILE_MODE, make_folders

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
PARTIAL = ".partial-"

Produce = Callable[[Path], Awaitable[str]]
"""Writes a LoRA to a new file at the path given; its sha256 (hex)."""


@dataclass(frozen=True, slots=True)
class Cached:
    """A LoRA in the cache."""

    digest: str
    path: Path
    fetched: bool
    """Whether it was just fetched (else it was there already)."""


class LoraCache:
    """LoRA files in one folder, at most ``max_bytes`` of them."""

    def __init__(self, root: Path, max_bytes: int, *, partial_age: float = 3600.0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.partial_age = partial_age
        """Seconds after which a partial file is taken for one a stopped process left."""
        self._flights: dict[str, tuple[asyncio.Task[Cached], list[int]]] = {}
        self._pins: dict[str, int] = {}
        self._ready = False

    def path(self, digest: str) -> Path:
        """Where the LoRA with this digest is kept."""
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / f"{digest}{SUFFIX}"

    @contextlib.contextmanager
    def pinned(self, *digests: str) -> Iterator[None]:
        """Keep these LoRAs from eviction while the block runs (until they are loaded)."""
        for digest in digests:
            self._pins[digest] = self._pins.get(digest, 0) + 1
        try:
            yield
        finally:
            for digest in digests:
                self._pins[digest] -= 1
                if not self._pins[digest]:
                    del self._pins[digest]

    async def get(self, key: str, produce: Produce) -> Cached:
        """The LoRA ``key`` names: from the cache, or made now by ``produce`` (once, for
        all who ask meanwhile); pin it before anything else is fetched."""
        await self._prepare()
        found = await asyncio.to_thread(self._lookup, key)
        if found is not None:
            return found
        flight = self._flights.get(key)
        if flight is None:
            task = asyncio.create_task(self._fill(key, produce), name="lora-fetch")
            flight = (task, [0])
            self._flights[key] = flight
            task.add_done_callback(lambda done: self._landed(key, done))
        task, waiting = flight
        waiting[0] += 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if waiting[0] == 1 and not task.done():
                task.cancel()  # nobody else waits for it
            raise
        finally:
            waiting[0] -= 1

    def _landed(self, key: str, task: asyncio.Task[Cached]) -> None:
        self._flights.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    async def add(self, data: bytes, accept: Callable[[Path], object] | None = None) -> Cached:
        """Keep ``data`` (an uploaded LoRA's bytes), filed by its digest. ``accept`` (run
        on a thread) sees the file first, and may refuse it by raising."""
        await self._prepare()
        return await asyncio.to_thread(self._add, data, accept)

    async def _fill(self, key: str, produce: Produce) -> Cached:
        partial = Path(await asyncio.to_thread(self._partial))
        try:
            digest = await produce(partial)
            cached = await asyncio.to_thread(self._commit, partial, digest, key)
        finally:
            await asyncio.to_thread(partial.unlink, True)
        return cached

    async def _prepare(self) -> None:
        if not self._ready:
            await asyncio.to_thread(self._sweep_partials)
            self._ready = True

    # On threads

    def _index(self, key: str) -> Path:
        return self.root / "index" / hashlib.sha256(key.encode()).hexdigest()

    def _lookup(self, key: str) -> Cached | None:
        index = self._index(key)
        try:
            digest = index.read_text().strip()
            path = self.path(digest)
            os.utime(path)  # the most recently used from now
        except (FileNotFoundError, ValueError):
            index.unlink(missing_ok=True)
            return None
        return Cached(digest, path, fetched=False)

    def _partial(self) -> str:
        make_folders(self.root)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=PARTIAL)  # 0600
        os.close(fd)
        os.unlink(name)  # the producer creates it anew (exclusively)
        return name

    def _commit(self, partial: Path, digest: str, key: str | None) -> Cached:
        path = self.path(digest)
        os.chmod(partial, FILE_MODE)
        os.replace(partial, path)
        if key is not None:
            index = self._index(key)
            make_folders(index.parent)
            fd, temporary = tempfile.mkstemp(dir=index.parent, prefix=PARTIAL)
            with os.fdopen(fd, "w") as handle:
                handle.write(digest)
            os.replace(temporary, index)
        self._evict(keep=digest)
        return Cached(digest, path, fetched=True)

    def _add(self, data: bytes, accept: Callable[[Path], object] | None) -> Cached:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        try:
            os.utime(path)
            return Cached(digest, path, fetched=False)
        except FileNotFoundError:
            pass
        make_folders(self.root)
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=PARTIAL)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if accept is not None:
                accept(Path(temporary))
            return self._commit(Path(temporary), digest, None)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _evict(self, keep: str) -> None:
        """Remove the least recently used LoRAs until the rest fit in ``max_bytes``."""
        files = []
        for entry in os.scandir(self.root):
            if entry.name.endswith(SUFFIX) and not entry.name.startswith(PARTIAL):
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat(follow_symlinks=False)
                    files.append((stat.st_mtime, entry.name[:-len(SUFFIX)], stat.st_size))
        total = sum(size for _, _, size in files)
        gone = set()
        for _, digest, size in sorted(files):
            if total <= self.max_bytes:
                break
            if digest == keep or digest in self._pins:
                continue
            with contextlib.suppress(FileNotFoundError):
                self.path(digest).unlink()
            log.info("LoRA cache: removed %s (%d bytes), least recently used", digest, size)
            total -= size
            gone.add(digest)
        if gone:
            self._forget(gone)

    def _forget(self, digests: set[str]) -> None:
        """Remove the index entries that name these digests."""
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root / "index"):
                with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
                    if Path(entry.path).read_text().strip() in digests:
                        os.unlink(entry.path)

    def _sweep_partials(self) -> None:
        """Delete partial files that a process stopped in the middle of left behind."""
        before = time.time() - self.partial_age
        for folder in (self.root, self.root / "index"):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.name.startswith(PARTIAL):
                        with contextlib.suppress(FileNotFoundError):
                            if entry.stat(follow_symlinks=False).st_mtime < before:
                                os.unlink(entry.path)
