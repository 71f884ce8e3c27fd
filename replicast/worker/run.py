"""One prediction's run: what the model sees (``RunContext``) and what the worker keeps.

Logs and output items collect in memory and are written by a flusher task: as soon
as the previous write finishes, the next one starts with whatever piled up, so a
chatty model costs a few writes a second, not one per line. What is left at the
end goes into the final status change.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from replicast import ids
from replicast.inputs import InputFetcher
from replicast.outputs.base import OutputStore
from replicast.predictions.events import Progress
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.base import UNSET


class Run:
    """The ``RunContext`` given to a runner, and the state of the run."""

    def __init__(self, prediction: Prediction, lifecycle: Lifecycle, outputs: OutputStore,
                 fetcher: InputFetcher) -> None:
        self.prediction = prediction
        self.prediction_id = prediction.id
        self.cancel_event = threading.Event()
        self.metrics: dict[str, Any] = {}
        self.items: list[Any] = []
        self._lifecycle = lifecycle
        self._outputs = outputs
        self._fetcher = fetcher
        self._folder = ids.random_id(26)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._pending_logs: list[str] = []
        self._logs_length = len(prediction.logs)
        self._items_written = 0
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    # RunContext

    def log(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._pending_logs.append(text)
        self._signal()

    async def emit(self, item: Any) -> None:
        self.items.append(item)
        self._signal()

    async def save_file(self, name: str, data: bytes) -> str:
        return await self._outputs.save(
            self.prediction.base_url, self.prediction_id, self._folder, name, data
        )

    async def fetch_file(self, url: str) -> bytes:
        return await self._fetcher.fetch(url)

    def record_metric(self, name: str, value: float | int) -> None:
        self.metrics[name] = value

    def check_canceled(self) -> None:
        if self.cancel_event.is_set():
            raise asyncio.CancelledError()

    # worker side

    def start_flushing(self) -> None:
        """Begin writing logs and output items while the model runs."""
        self._flusher = asyncio.create_task(self._flush_forever(),
                                            name=f"flush-{self.prediction_id}")

    async def stop_flushing(self) -> str:
        """Stop the flusher; the logs it had not written yet."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        return self._take_logs()

    def _signal(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _take_logs(self) -> str:
        with self._lock:
            text = "".join(self._pending_logs)
            self._pending_logs.clear()
        return text

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                return

    async def flush(self) -> bool:
        """Write what piled up; False if the prediction is no longer running."""
        logs = self._take_logs()
        new_items = tuple(self.items[self._items_written:])
        if not logs and not new_items:
            return True
        progress = Progress(self._logs_length, logs, self._items_written, new_items)
        kept = await self._lifecycle.progress(
            self.prediction_id, progress, list(self.items) if new_items else UNSET
        )
        self._logs_length += len(logs)
        self._items_written += len(new_items)
        return kept
