"""Leases: how a crashed worker's predictions are found and run again.

A worker claims a prediction for ``lease`` seconds when it starts it, and renews
the claims of everything it runs every third of that (its heartbeat, which also
refreshes its entry in the store's ``workers`` table). A worker that dies stops
renewing. Every worker also reaps: a running prediction whose lease has run out
goes back to the queue, logged, unless it has used up its attempts, in which case
it fails with an error that says so. The compare-and-set on the expired lease means
two reapers, or a reaper and a late heartbeat, cannot both win.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta

from replicast import ids, times
from replicast.broker.base import Broker
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.base import Store, WorkerInfo

log = logging.getLogger(__name__)

_REAP_BATCH = 100


def new_worker_id() -> str:
    """A name for this worker process, unique across machines and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{ids.random_id(6)}"


def lost_note(prediction: Prediction, max_attempts: int) -> str:
    """The log line that starts a run whose worker was lost."""
    return (f"The worker running this prediction stopped answering (attempt "
            f"{prediction.attempt} of {max_attempts}); it will run again from the start.\n")


class Leases:
    """Keeps this worker's claims alive, and takes back those of dead workers."""

    def __init__(self, store: Store, lifecycle: Lifecycle, broker: Broker, *,
                 worker_id: str, models: tuple[str, ...], lease: float,
                 max_attempts: int) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.broker = broker
        self.worker_id = worker_id
        self.models = models
        self.lease = lease
        self.max_attempts = max_attempts
        self.started_at = times.now()
        self.last_heartbeat: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Report this worker, then keep renewing and reaping every third of a lease."""
        await self.heartbeat()
        self._task = asyncio.create_task(self._forever(), name="leases")

    async def stop(self) -> None:
        """Stop renewing and say this worker has gone."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.store.remove_worker(self.worker_id)

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.heartbeat()
                await self.reap()
            except Exception:
                log.exception("could not renew or reap leases; trying again")

    async def heartbeat(self) -> None:
        """Renew the claims on what this worker runs, and its entry."""
        now = times.now()
        await self.store.renew_leases(self.worker_id, now + timedelta(seconds=self.lease))
        await self.store.record_worker(WorkerInfo(
            self.worker_id, socket.gethostname(), os.getpid(), self.models, self.started_at,
            now))
        self.last_heartbeat = now

    async def reap(self) -> int:
        """Put back (or fail) running predictions whose lease has run out; how many."""
        now = times.now()
        reaped = 0
        for prediction in await self.store.expired_leases(now, _REAP_BATCH):
            if prediction.attempt >= self.max_attempts:
                done = await self.lifecycle.fail(
                    prediction,
                    f"The worker running this prediction stopped answering, "
                    f"{prediction.attempt} time(s); it was not run again",
                )
            else:
                done = await self.lifecycle.requeue(
                    prediction, lost_note(prediction, self.max_attempts),
                    lease_expired_before=now)
                if done is not None:
                    await self.broker.enqueue(prediction.model, prediction.id)
            if done is not None:
                reaped += 1
                log.warning("prediction %s: its worker %s stopped answering; %s",
                            prediction.id, prediction.worker_id,
                            "failed" if done.terminal else "queued again")
        return reaped
