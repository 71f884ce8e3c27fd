"""One prediction's run: what the model sees (``RunContext``) and what the worker keeps.

Its input files are fetched before the model runs (``prepare_inputs``), into a folder
of the run's own (``replicast.input_files``) that the worker removes when the run ends.

Logs and output items are announced at once, as progress events on the
prediction's channel, so streams see them as they happen. They are written to the
store in batches, at most every ``PERSIST_SECONDS``: a chatty model costs a few
writes a second, not one per token. Until a batch is written, the broker keeps its
events for streams that connect meanwhile. What is left at the end goes into the
final status change.

The output files a run saves are its own (a folder no other run shares); those its
recorded outcome does not name (the run failed, or saving a later one found the disk
full) are deleted when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replicast import ids
from replicast.errors import DiskFull, ModelError, StorageUnavailable, StoreUnavailable
from replicast.files.service import FilesService, read_own_file
from replicast.input_fetch import InputFetcher
from replicast.input_files import NO_LIMITS, FileLimits, InputFiles
from replicast.models.base import OwnFile
from replicast.models.file_inputs import named_files
from replicast.outputs.base import OutputStore
from replicast.outputs.inline import json_strings
from replicast.predictions.events import Progress, preview_data
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.predictions import UNSET

PERSIST_SECONDS = 0.1

log = logging.getLogger(__name__)


class Running:
    """A prediction running in this worker: the ``RunContext`` given to its runner, and
    the state of the run."""

    def __init__(self, prediction: Prediction, lifecycle: Lifecycle, outputs: OutputStore,
                 fetcher: InputFetcher, *, files: FilesService | None = None,
                 file_limits: FileLimits = NO_LIMITS) -> None:
        self.prediction = prediction
        self.prediction_id = prediction.id
        self.cancel_event = threading.Event()
        self.upstream_id = prediction.upstream_id
        self.previews = prediction.previews
        self.context = prediction.context
        self.interrupted = False
        self.abandoned = False
        """Whether its supervisor went on without it (asked to stop, it did not in time)."""
        self.metrics: dict[str, Any] = {}
        self.items: list[Any] = []
        self._lifecycle = lifecycle
        self._outputs = outputs
        self._fetcher = fetcher
        self._files = files
        self._inputs = InputFiles(fetcher.fetch_to, self.own_file, file_limits)
        self._folder = ids.random_id(26)
        self._saved: dict[str, str] = {}  # URL to name, of the files this run saved
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._incoming_logs: list[str] = []  # from any thread, not yet announced
        self._announce_scheduled = False
        self._logs_announced = len(prediction.logs)
        self._items_announced = 0
        self._unwritten_logs: list[str] = []  # announced, not yet in the store
        self._items_written = 0
        self._timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._stopped = False
        self._nudged = asyncio.Event()

    # RunContext

    def log(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._incoming_logs.append(text)
            if self._announce_scheduled:
                return
            self._announce_scheduled = True
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._announce)
        else:
            self._loop.call_soon_threadsafe(self._announce)

    async def emit(self, item: Any) -> None:
        self.items.append(item)
        self._announce()

    async def save_file(self, name: str, data: bytes) -> str:
        try:
            url = await self._outputs.save(
                self.prediction.base_url, self.prediction_id, self._folder, name, data)
        except DiskFull as exc:
            log.warning("prediction %s: %s", self.prediction_id, exc)
            raise ModelError(f"Replicast's disk is full: the output file {name} could not "
                             "be saved") from exc
        except StorageUnavailable as exc:  # logged by the bucket
            raise ModelError(f"Replicast's file storage refused or did not answer: the "
                             f"output file {name} could not be saved") from exc
        self._saved[url] = name
        return url

    async def fetch_file(self, url: str) -> bytes:
        prepared = self._inputs.prepared(url)
        if prepared is not None:
            return await asyncio.to_thread(prepared.read_bytes)
        own = await self.own_file(url)
        return own.data if own is not None else await self._fetcher.fetch(url)

    async def input_file(self, url: str) -> Path:
        return await self._inputs.get(url)

    async def own_file(self, url: str, *, max_bytes: int | None = None) -> OwnFile | None:
        # This server's own upload: read from the store as the prediction's account,
        # never over HTTP (which would need a token, and could reach another account's).
        limit = self._fetcher.max_bytes if max_bytes is None else max_bytes
        return await read_own_file(self._files, self.prediction.account_id,
                                   self.prediction.base_url, url, max_bytes=limit,
                                   error=ModelError)

    def record_metric(self, name: str, value: float | int) -> None:
        self.metrics[name] = value

    def preview(self, index: int, image: bytes, image_format: str) -> None:
        if not 0 <= index < self.previews:
            return  # not asked for
        data = preview_data(index, image, image_format)
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._send_preview, data)
        else:
            self._loop.call_soon_threadsafe(self._send_preview, data)

    def _send_preview(self, data: dict[str, Any]) -> None:
        # After the logs before it, so that a listener sees them in order.
        self._announce()
        if not self._stopped:
            self._lifecycle.preview(self.prediction_id, data)

    def check_canceled(self) -> None:
        if self.cancel_event.is_set():
            raise asyncio.CancelledError()

    async def wait_nudge(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._nudged.wait(), timeout)
        except TimeoutError:
            return False
        self._nudged.clear()
        return True

    async def remember_upstream(self, upstream_id: str) -> None:
        self.upstream_id = upstream_id
        await self._lifecycle.record_upstream(self.prediction, upstream_id)

    def nudge(self) -> None:
        """Wake the runner's ``wait_nudge`` (now, or the next time it waits)."""
        self._nudged.set()

    # worker side

    async def prepare_inputs(self, inputs: Mapping[str, Any], files: Mapping[str, bool]
                             ) -> None:
        """Fetch the input files ``inputs`` give in the inputs ``files`` lists (a model's
        ``file_inputs``), each distinct one once; ``ModelError`` if one cannot be, or if
        they pass the limits."""
        await self._inputs.prepare([named.url for named in named_files(inputs, files)])

    async def remove_inputs(self) -> None:
        """Delete the run's input files (shielded: a second cancel, a stop after a cancel,
        must not leave them behind)."""
        if not self._inputs.empty:  # most runs fetch nothing: no task, no turn of the loop
            await asyncio.shield(self._inputs.remove())

    async def finish(self) -> str:
        """Announce what is left and stop writing; the logs the final change must carry."""
        self._announce()
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writer is not None:
            # Let a write under way end: if it fails, its logs come back for the final
            # change (cut short, they would be lost in an outage, or written twice).
            # (asyncio.wait, not gather: a run cut short must not cancel the write.)
            await asyncio.wait({self._writer})
        text = "".join(self._unwritten_logs)
        self._unwritten_logs.clear()
        return text

    def output(self) -> Any:
        """The items emitted so far, for a run that ends without returning (or UNSET)."""
        return list(self.items) if self.items else UNSET

    async def discard_files(self, kept: Any) -> None:
        """Delete the files this run saved that ``kept`` (the output on record) does not
        name."""
        if not self._saved:  # most runs save no file: nothing to look for in the output
            return
        named = set(json_strings(kept))
        unused = [url for url in self._saved if url not in named]
        if unused:
            # A bucket that refuses logs it. Nothing names these files: retention deletes
            # the prediction's files with its data, these among them.
            with contextlib.suppress(StorageUnavailable):
                await self._outputs.discard(self.prediction_id, self._folder,
                                            [self._saved.pop(url) for url in unused])

    def _announce(self) -> None:
        """Publish the logs and items gathered since the last announcement (on the loop)."""
        with self._lock:
            text = "".join(self._incoming_logs)
            self._incoming_logs.clear()
            self._announce_scheduled = False
        items = tuple(self.items[self._items_announced:])
        if self._stopped or (not text and not items):
            return
        progress = Progress(self._logs_announced, text, self._items_announced, items)
        self._logs_announced += len(text)
        self._items_announced += len(items)
        if text:
            self._unwritten_logs.append(text)
        self._lifecycle.announce(self.prediction_id, progress)
        if self._timer is None and self._writer is None:
            self._timer = self._loop.call_later(PERSIST_SECONDS, self._begin_write)

    def _begin_write(self) -> None:
        self._timer = None
        self._writer = asyncio.create_task(self._write(), name=f"persist-{self.prediction_id}")

    async def _write(self) -> None:
        logs = "".join(self._unwritten_logs)
        self._unwritten_logs.clear()
        logs_length, items = self._logs_announced, self._items_announced
        output = list(self.items[:items]) if items > self._items_written else UNSET
        try:
            running = await self._lifecycle.persist(
                self.prediction, logs, output, logs_length=logs_length, items_length=items,
            )
        except Exception as exc:
            # Keep the text for the next write (or the final change) and carry on.
            if not isinstance(exc, StoreUnavailable):  # the store logs each outage once
                log.exception("could not write the progress of prediction %s",
                              self.prediction_id)
            self._unwritten_logs.insert(0, logs)
            running = True
            items = self._items_written
        finally:
            self._writer = None
        self._items_written = items
        if not running:
            self._stopped = True
        elif not self._stopped and (self._unwritten_logs
                                   or len(self.items) > self._items_written):
            self._timer = self._loop.call_later(PERSIST_SECONDS, self._begin_write)
