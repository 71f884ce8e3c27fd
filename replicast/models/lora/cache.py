"""LoRAs on disk: filed by content digest, found by source, bounded, least recently used
go first.

``<root>/<sha256>.safetensors`` holds each LoRA once, however many URLs name it;
``<root>/index/<sha256 of the source key>`` holds the digest a source gave last time,
so a LoRA named again is not downloaded again. A file is written under a ``.partial-``
name, checked, and renamed into place whole. Using a LoRA touches its file; once the
files pass ``max_bytes`` in all, the least recently used go, and index entries naming
them with them. A LoRA is pinned as it is found (one step, under a lock eviction takes
too) and stays until the prediction has loaded it (``unpin``): a pinned LoRA is never
removed. Pins hold within this process: another process sharing the folder may
remove a LoRA this one is about to load, which fails that prediction, saying so.

One source fetched by several predictions at once is fetched once: the others wait
for the same download (which stops if every one of them stops waiting). Folders are
0700 and files 0600 (``replicast.private``). All disk work runs on threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from replicast.private import FILE_MODE, make_folders

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
PARTIAL = ".partial-"

_ATTEMPTS = 3
"""Fetches of one source for one caller, should eviction win the race each time."""

Produce = Callable[[Path], Awaitable[str]]
"""Writes a LoRA to a new file at the path given; its sha256 (hex)."""


@dataclass(frozen=True, slots=True)
class Cached:
    """A LoRA in the cache."""

    digest: str
    path: Path
    fetched: bool
    """Whether it was just fetched (else it was there already)."""


class Evicted(RuntimeError):
    """A LoRA was removed again before it could be pinned, time after time: the cache is
    too small for the LoRAs in use."""


@dataclass(slots=True)
class _Flight:
    """One source being fetched, and how many wait for it."""

    task: asyncio.Task[None]
    waiting: int = 0


class LoraCache:
    """LoRA files in one folder, at most ``max_bytes`` of them (more while pinned)."""

    def __init__(self, root: Path, max_bytes: int, *, partial_age: float = 3600.0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.partial_age = partial_age
        """Seconds after which a partial file is taken for one a stopped process left."""
        self._flights: dict[str, _Flight] = {}
        self._pins: Counter[str] = Counter()
        self._lock = threading.Lock()
        """Makes finding a file and pinning it one step, which eviction cannot split."""
        self._ready = False

    def path(self, digest: str) -> Path:
        """Where the LoRA with this digest is kept."""
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / f"{digest}{SUFFIX}"

    def unpin(self, digest: str) -> None:
        """Let a LoRA that ``get`` or ``add`` pinned be evicted again (once loaded)."""
        with self._lock:
            self._pins[digest] -= 1
            if self._pins[digest] <= 0:
                del self._pins[digest]

    @property
    def pinned(self) -> frozenset[str]:
        """The digests pinned now."""
        with self._lock:
            return frozenset(self._pins)

    async def get(self, key: str, produce: Produce) -> Cached:
        """The LoRA ``key`` names, pinned (``unpin`` it once loaded): from the cache, or
        made now by ``produce`` (once, for all who ask meanwhile)."""
        await self._prepare()
        fetched = False
        for _ in range(_ATTEMPTS):
            found = await asyncio.to_thread(self._lookup, key)
            if found is not None:
                return Cached(found.digest, found.path, fetched)
            await self._fetched(key, produce)
            fetched = True
        raise Evicted(f"the LoRA was removed from the cache {_ATTEMPTS} times before it "
                      "could be used: REPLICAST_LORA_CACHE_BYTES is too small for the LoRAs "
                      "in use")

    async def _fetched(self, key: str, produce: Produce) -> None:
        """Once ``produce`` has put the LoRA ``key`` names into the cache (joining a fetch
        already under way)."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.create_task(self._fill(key, produce), name="lora-fetch"))
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._landed, key, flight))
        flight.waiting += 1
        try:
            await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiting == 1 and not flight.task.done():
                flight.task.cancel()  # nobody else waits for it
                self._drop(key, flight)  # who asks from now on starts afresh
            raise
        finally:
            flight.waiting -= 1

    def _landed(self, key: str, flight: _Flight, task: asyncio.Task[None]) -> None:
        self._drop(key, flight)
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    def _drop(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    async def add(self, data: bytes, accept: Callable[[Path], object] | None = None) -> Cached:
        """Keep ``data`` (an uploaded LoRA's bytes), filed by its digest, pinned (as
        ``get``). ``accept`` (run on a thread) sees the file first, and may refuse it by
        raising."""
        await self._prepare()
        return await asyncio.to_thread(self._add, data, accept)

    async def _fill(self, key: str, produce: Produce) -> None:
        partial = Path(await asyncio.to_thread(self._partial))
        try:
            digest = await produce(partial)
            await asyncio.to_thread(self._commit, partial, digest, key)
        finally:
            await asyncio.to_thread(partial.unlink, True)

    async def _prepare(self) -> None:
        if not self._ready:
            await asyncio.to_thread(self._sweep_partials)
            self._ready = True

    # On threads

    def _index(self, key: str) -> Path:
        return self.root / "index" / hashlib.sha256(key.encode()).hexdigest()

    def _lookup(self, key: str) -> Cached | None:
        """The LoRA ``key`` names, pinned, if the cache holds it."""
        index = self._index(key)
        try:
            digest = index.read_text().strip()
            found = self._pin_if_present(digest)
        except (FileNotFoundError, ValueError):
            found = None
        if found is None:
            index.unlink(missing_ok=True)
        return found

    def _pin_if_present(self, digest: str) -> Cached | None:
        path = self.path(digest)
        with self._lock:
            try:
                os.utime(path)  # the most recently used from now
            except FileNotFoundError:
                return None
            self._pins[digest] += 1
        return Cached(digest, path, fetched=False)

    def _partial(self) -> str:
        make_folders(self.root)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=PARTIAL)  # 0600
        os.close(fd)
        os.unlink(name)  # the producer creates it anew (exclusively)
        return name

    def _commit(self, partial: Path, digest: str, key: str | None, *, pin: bool = False
                ) -> Cached:
        path = self.path(digest)
        os.chmod(partial, FILE_MODE)
        with self._lock:
            os.replace(partial, path)
            if pin:
                self._pins[digest] += 1
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
        found = self._pin_if_present(digest)
        if found is not None:
            return found
        make_folders(self.root)
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=PARTIAL)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if accept is not None:
                accept(Path(temporary))
            return self._commit(Path(temporary), digest, None, pin=True)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _evict(self, keep: str) -> None:
        """Remove the least recently used LoRAs until the rest fit in ``max_bytes``."""
        files = []
        for entry in os.scandir(self.root):
            if entry.name.endswith(SUFFIX) and not entry.name.startswith(PARTIAL):
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat(follow_symlinks=False)
                    files.append((stat.st_mtime_ns, entry.name[:-len(SUFFIX)], stat.st_size))
        total = sum(size for _, _, size in files)
        gone = set()
        for used, digest, size in sorted(files):
            if total <= self.max_bytes:
                break
            if digest == keep:
                continue
            with self._lock, contextlib.suppress(FileNotFoundError, ValueError):
                path = self.path(digest)
                # Pinned, or used since the listing: not the one to remove.
                if digest in self._pins or os.stat(path).st_mtime_ns != used:
                    continue
                path.unlink()
                log.info("LoRA cache: removed %s (%d bytes), least recently used", digest,
                         size)
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
