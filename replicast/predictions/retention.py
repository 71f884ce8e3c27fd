"""Data retention, as Replicate does it: an API prediction's input, output, logs and
files are removed a while after it finishes (``REPLICAST_RETENTION``).

The sweep is driven by the store alone, so it survives restarts and any number of
processes may run it: files are deleted first and the row marked after, so a crash
in between leaves the prediction to the next sweep rather than files on the disk.

It works in batches of ``BATCH`` and, between batches, waits long enough that it takes
at most ``SHARE`` of the time: after a restart with a backlog (a server that was down for
a day, or whose retention was just shortened) it catches up in the background while
requests are served at nearly their usual rate, rather than at full speed against them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from replicast import times
from replicast.broker.base import Broker
from replicast.errors import BrokerError, StorageUnavailable, StoreUnavailable
from replicast.outputs.base import OutputStore
from replicast.store.predictions import PredictionStore

log = logging.getLogger(__name__)

BATCH = 100
SHARE = 0.1
"""Most of the wall-clock time a sweep with a backlog spends working; it rests the rest."""


class Retention:
    """Removes the data of API predictions that finished more than ``retention`` ago."""

    def __init__(self, store: PredictionStore, outputs: OutputStore, broker: Broker, *,
                 retention: float, interval: float,
                 also: Callable[[datetime], Awaitable[int]] | None = None,
                 share: float = SHARE) -> None:
        self.store = store
        self.outputs = outputs
        self.broker = broker
        self.retention = retention
        """Seconds; 0 keeps everything."""
        self.interval = interval
        self.also = also
        """Another sweep to run alongside (expired uploaded files)."""
        self.share = share
        """Most of its time a sweep spends working, between batches (1: no rest)."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep now and then every ``interval`` seconds until stopped."""
        self._task = asyncio.create_task(self._sweep_forever(), name="retention")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except StoreUnavailable:
                pass  # the store logs each outage once
            except Exception:
                log.exception("removing data past retention failed; trying again")
            await asyncio.sleep(self.interval)

    async def sweep(self, now: datetime | None = None) -> int:
        """Remove what is due; how many predictions lost their data."""
        now = now or times.now()
        removed = 0
        if self.retention > 0:
            cutoff = now - timedelta(seconds=self.retention)
            loop = asyncio.get_running_loop()
            began = loop.time()
            while batch := await self.store.list_retained(cutoff, BATCH):
                # A prediction whose files cannot be deleted keeps its data until a later
                # sweep can; the others go on (the bucket logs each failure).
                done = await self.outputs.remove_many(batch)
                if done:
                    try:
                        await self.broker.forget(done)
                    except BrokerError as exc:  # they expire in the broker anyway
                        log.warning("could not drop the events of removed predictions: %s",
                                    exc)
                    removed += await self.store.remove_data(done)
                if len(batch) < BATCH or not done:
                    break  # nothing more, or nothing can be removed now: the next sweep
                # A slow batch (a bucket far away) rests no longer than the sweep's interval.
                await self._rest(min(self.interval,
                                     (loop.time() - began) * (1 / self.share - 1)))
                began = loop.time()
        if removed:
            log.info("removed the data of %d predictions past retention", removed)
        if self.also is not None:
            # The bucket logs a failure; the next sweep tries again.
            with contextlib.suppress(StorageUnavailable):
                await self.also(now)
        return removed

    async def _rest(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


