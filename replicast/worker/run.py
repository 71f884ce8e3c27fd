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

_COALESCE_SECONDS = 0.001


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
        self._timer: asyncio.TimerHandle | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False

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

    async def stop_flushing(self) -> str:
        """Stop writing; the logs not written yet (the final change carries them)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        return self._take_logs()

    def _signal(self) -> None:
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._signal)
        elif self._timer is None and self._flusher is None and not self._stopped:
            # Gather what arrives within a moment into one write; a model about to
            # finish then needs none at all (the final change carries it).
            self._timer = self._loop.call_later(_COALESCE_SECONDS, self._begin_flush)

    def _begin_flush(self) -> None:
        self._timer = None
        self._flusher = asyncio.create_task(self._flush_pending(),
                                            name=f"flush-{self.prediction_id}")

    def _take_logs(self) -> str:
        with self._lock:
            text = "".join(self._pending_logs)
            self._pending_logs.clear()
        return text

    def _has_pending(self) -> bool:
        return bool(self._pending_logs) or len(self.items) > self._items_written

    async def _flush_pending(self) -> None:
        try:
            while self._has_pending() and not self._stopped:
                # Shielded: a write under way finishes and is announced even if the
                # run ends meanwhile, so logs are neither lost nor written twice.
                if not await asyncio.shield(self.flush()):
                    self._stopped = True
        finally:
            self._flusher = None

    async def flush(self) -> bool:
        """Write what piled up; False if the prediction is no longer running."""
        logs = self._take_logs()
        new_items = tuple(self.items[self._items_written:])
        if not logs and not new_items:
            return True
        progress = Progress(self._logs_length, logs, self._items_written, new_items)
        self._logs_length += len(logs)
        self._items_written += len(new_items)
        return await self._lifecycle.progress(
            self.prediction_id, progress, list(self.items) if new_items else UNSET
        )
