"""A ``RunContext`` that records what a runner does, for testing runners alone."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any


class RecordingContext:
    """Collects logs, emitted items, files and metrics in memory."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.prediction_id = "testprediction000000000000"
        self.cancel_event = threading.Event()
        self.logs: list[str] = []
        self.items: list[Any] = []
        self.saved: dict[str, bytes] = {}
        self.metrics: dict[str, Any] = {}
        self.remote_files = files or {}
        self.upstream_id: str | None = None
        self.interrupted = False
        self.previews = 0
        self.context: dict[str, str] = {}
        self.preview_images: list[tuple[int, bytes, str]] = []

    @property
    def log_text(self) -> str:
        return "".join(self.logs)

    def log(self, text: str) -> None:
        self.logs.append(text)

    async def emit(self, item: Any) -> None:
        self.items.append(item)

    def preview(self, index: int, image: bytes, image_format: str) -> None:
        self.preview_images.append((index, image, image_format))

    async def save_file(self, name: str, data: bytes) -> str:
        self.saved[name] = data
        return f"https://files.test/{name}"

    async def fetch_file(self, url: str) -> bytes:
        if url.startswith("data:"):
            from replicast.input_fetch import InputFetcher

            fetcher = InputFetcher(max_bytes=10_000_000, timeout=5)
            try:
                return await fetcher.fetch(url)
            finally:
                await fetcher.close()
        return self.remote_files[url]

    async def input_file(self, url: str) -> Path:
        from replicast.input_files import file_name

        if not hasattr(self, "_folder"):
            self._folder = Path(tempfile.mkdtemp(prefix="replicast-test-input-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        path = self._folder / file_name(url)
        await asyncio.to_thread(path.write_bytes, await self.fetch_file(url))
        return path

    async def own_file(self, url: str, *, max_bytes: int | None = None) -> Any:
        return None  # no files are uploaded here

    def record_metric(self, name: str, value: float | int) -> None:
        self.metrics[name] = value

    def check_canceled(self) -> None:
        if self.cancel_event.is_set():
            raise asyncio.CancelledError()

    async def wait_nudge(self, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return False

    async def remember_upstream(self, upstream_id: str) -> None:
        self.upstream_id = upstream_id
