"""Putting back the work a stopped process left unfinished, and what the broker lost.

``recover`` runs at start in the worker that owns the store alone (embedded mode): every
prediction still ``starting`` is queued again in creation order; every one still
``processing`` was interrupted, and runs again from the start unless it has used up
its attempts, in which case it fails with an error that says so. None is left
``starting`` or ``processing`` for ever. A routed model whose upstream cannot describe
it yet keeps its predictions queued (they may be running there): ``later`` is told of
its name, for the worker to serve it once the upstream answers.

``restore_forever`` runs in every worker: every ``RESTORE_SECONDS`` it queues again the
predictions of its models that have waited in the store for a while but are in no
queue (a restart of a shared broker lost them, or the store failed their start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from replicast import times
from replicast.broker.base import Broker
from replicast.errors import RequestError, StoreUnavailable
from replicast.models.registry import Registry
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.base import Store

log = logging.getLogger(__name__)

RESTORE_SECONDS = 5.0
"""How often a worker puts back what the broker lost."""
# How old a waiting prediction must be to count as lost (younger ones may be on their way).
_RESTORE_AFTER = timedelta(seconds=2)
_RESTORE_BATCH = 1000


async def recover(store: Store, lifecycle: Lifecycle, registry: Registry, broker: Broker,
                  max_attempts: int, later: Callable[[str], None] = lambda name: None) -> int:
    """Queue every unfinished prediction again; how many were queued."""
    queued = 0
    for prediction in await store.runs.list_unfinished():
        try:
            found = await registry.lookup(prediction.model) is not None
        except RequestError as exc:  # a routed model whose upstream does not answer yet
            log.warning("%s waits for its upstream: %s", prediction.id, exc.detail)
            later(prediction.model)
            found = True
        if not found:
            await lifecycle.fail(
                prediction, f"The model {prediction.model} is no longer served by this server"
            )
            continue
        if prediction.status is Status.PROCESSING:
            if prediction.attempt >= max_attempts:
                await lifecycle.fail(
                    prediction,
                    f"The server stopped while this prediction was running, {prediction.attempt}"
                    " time(s); it was not run again",
                )
                continue
            requeued = await lifecycle.requeue(
                prediction, interrupted_note(prediction.attempt, max_attempts)
            )
            if requeued is None:
                continue
        await broker.enqueue(prediction.model, prediction.id)
        queued += 1
    return queued


def interrupted_note(attempt: int, max_attempts: int) -> str:
    """The log line that starts a run interrupted by a stop."""
    return (
        f"Replicast stopped while this prediction was running (attempt {attempt} of "
        f"{max_attempts}); it will run again from the start.\n"
    )


async def restore_forever(store: Store, broker: Broker, names: Callable[[], list[str]]) -> None:
    """Every ``RESTORE_SECONDS``, queue again the predictions of the models ``names()``
    gives that wait in the store but in no queue; until canceled."""
    while True:
        await asyncio.sleep(RESTORE_SECONDS)
        try:
            waiting = await store.runs.list_waiting(names(), times.now() - _RESTORE_AFTER,
                                          _RESTORE_BATCH)
            by_model: dict[str, list[str]] = {}
            for prediction_id, model in waiting:
                by_model.setdefault(model, []).append(prediction_id)
            for model, prediction_ids in by_model.items():
                restored = await broker.restore(model, prediction_ids)
                if restored:
                    log.warning("queued %d waiting prediction(s) of %s again: the queue "
                                "had lost them", restored, model)
        except StoreUnavailable:
            pass  # the store logs each outage once
        except Exception:
            log.exception("could not check the queues against the store; trying again")
