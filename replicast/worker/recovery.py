"""Putting back the work a stopped process left unfinished.

Run at start by the worker that owns the store alone (embedded mode): every
prediction still ``starting`` is queued again in creation order; every one still
``processing`` was interrupted, and runs again from the start unless it has used up
its attempts, in which case it fails with an error that says so. None is left
``starting`` or ``processing`` for ever. A routed model whose upstream cannot describe
it yet keeps its predictions queued (they may be running there): ``later`` is told of
its name, for the worker to serve it once the upstream answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from replicast.broker.base import Broker
from replicast.errors import RequestError
from replicast.models.registry import Registry
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.base import Store

log = logging.getLogger(__name__)


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
