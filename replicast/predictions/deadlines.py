"""Enforcing ``Cancel-After`` deadlines.

A prediction still ``starting`` at its deadline is aborted; one ``processing`` is
canceled (the worker running it hears of it and stops the model). The watch list
is rebuilt from the store at start, so a restart forgets no deadline. With a shared
store, the process that created a prediction may be gone before its deadline: every
process then also looks for overdue predictions in the store now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from datetime import datetime, timedelta

from replicast import times
from replicast.errors import StoreUnavailable
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.runs import RunStore

log = logging.getLogger(__name__)

DEADLINE_NOTE = "Canceled: the prediction reached its Cancel-After deadline.\n"
SWEEP_SECONDS = 2.0
"""How often a process on a shared store looks for overdue predictions."""


class Deadlines:
    """Watches the deadlines of unfinished predictions."""

    def __init__(self, store: RunStore, lifecycle: Lifecycle, *, sweep: bool = False) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.sweep = sweep
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping: set[str] = set()
        self._heap: list[tuple[datetime, str]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._expiring: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Load the deadlines of unfinished predictions and start watching."""
        for prediction in await self.store.list_unfinished():
            if prediction.deadline is not None:
                self.watch(prediction.id, prediction.deadline)
        self._task = asyncio.create_task(self._watch_forever(), name="deadlines")
        if self.sweep:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="overdue")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                # A second late: the process that made it has had its chance.
                late = times.now() - timedelta(seconds=1)
                for prediction_id in await self.store.list_overdue(late, 100):
                    self._expire_soon(prediction_id)
            except StoreUnavailable:
                pass  # the store logs each outage once
            except Exception:
                log.exception("could not look for overdue predictions; trying again")

    async def stop(self) -> None:
        """Stop watching."""
        tasks = [t for t in (self._task, self._sweeper, *self._expiring) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _expired(self, task: asyncio.Task[None]) -> None:
        self._expiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not enforce a deadline", exc_info=task.exception())

    def watch(self, prediction_id: str, deadline: datetime) -> None:
        """Enforce ``deadline`` on a prediction."""
        heapq.heappush(self._heap, (deadline, prediction_id))
        self._changed.set()

    async def _watch_forever(self) -> None:
        while True:
            self._changed.clear()
            if not self._heap:
                await self._changed.wait()
                continue
            delay = (self._heap[0][0] - times.now()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), delay)
                continue
            _, prediction_id = heapq.heappop(self._heap)
            self._expire_soon(prediction_id)

    def _expire_soon(self, prediction_id: str) -> None:
        if prediction_id in self._stopping:
            return
        # Stopping a running prediction waits for its worker: one task each.
        self._stopping.add(prediction_id)
        task = asyncio.create_task(self._expire(prediction_id))
        self._expiring.add(task)
        task.add_done_callback(self._expired)

    async def _expire(self, prediction_id: str) -> None:
        try:
            await self.lifecycle.stop(prediction_id, unstarted=Status.ABORTED,
                                      note=DEADLINE_NOTE)
        finally:
            self._stopping.discard(prediction_id)
