"""Leases: how a crashed worker's predictions are found and run again.

A worker claims a prediction for ``lease`` seconds when it starts it, and renews
the claims of its runs in progress every third of that (its heartbeat, which also
refreshes its entry in the store's ``workers`` table). A worker that dies stops
renewing. A run that has ended is not renewed either: while its outcome waits for
the store (``outcome``), its claim may run out and another worker take the
prediction back, so no claim outlives the run it stands for. Every worker also reaps:
a running prediction whose lease has run out goes back to the queue, logged, unless
it has used up its attempts, in which case it fails with an error that says so; what
the worker itself still holds (running, or recording its outcome) it leaves alone.
The compare-and-set on the expired lease means two reapers, or a reaper and a late
heartbeat, cannot both win.
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
from replicast.errors import StoreUnavailable
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.runs import RunStore, WorkerInfo

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

    def __init__(self, store: RunStore, lifecycle: Lifecycle, broker: Broker, *,
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
        # Runs by (prediction id, attempt): a prediction taken back may come here again
        # while its earlier run still records its outcome.
        self._running: set[tuple[str, int]] = set()
        self._ending: set[tuple[str, int]] = set()
        self._task: asyncio.Task[None] | None = None

    def hold(self, run: Prediction) -> None:
        """A run of this worker began (``run`` as it started): its claim is renewed from
        now on."""
        self._running.add((run.id, run.attempt))

    def ending(self, run: Prediction) -> None:
        """The run has ended and its outcome is being recorded: no more renewals."""
        self._running.discard((run.id, run.attempt))
        self._ending.add((run.id, run.attempt))

    def release(self, run: Prediction) -> None:
        """This worker is done with the run."""
        self._running.discard((run.id, run.attempt))
        self._ending.discard((run.id, run.attempt))

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
            except StoreUnavailable:
                pass  # the store logs each outage once; the next beat tries again
            except Exception:
                log.exception("could not renew or reap leases; trying again")

    async def heartbeat(self) -> None:
        """Renew the claims on the runs in progress, and this worker's entry."""
        now = times.now()
        await self.store.renew_leases(self.worker_id, sorted({i for i, _ in self._running}),
                                      now + timedelta(seconds=self.lease))
        await self.store.record_worker(WorkerInfo(
            self.worker_id, socket.gethostname(), os.getpid(), self.models, self.started_at,
            now))
        self.last_heartbeat = now

    async def reap(self) -> int:
        """Put back (or fail) running predictions whose lease has run out; how many."""
        now = times.now()
        reaped = 0
        for prediction in await self.store.expired_leases(now, _REAP_BATCH):
            run = (prediction.id, prediction.attempt)
            if prediction.worker_id == self.worker_id and (
                    run in self._running or run in self._ending):
                continue  # not lost: its renewals, or its outcome, wait for the store
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
