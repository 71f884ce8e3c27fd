"""How a run ends: the status change that records it, made even when the store cannot
take it at once.

An ended run keeps its outcome (status, output, logs, metrics, and when it ended) in
memory and writes it again, with backoff, for as long as the store refuses writes
for now (an outage, a full disk): until it is written, or until the prediction is no
longer this run's, finished by another hand or taken back by a reaper after its lease
ran out (an ended run's claim is not renewed: see ``leases``). Then the output files
the run saved that the prediction on record does not name are deleted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from replicast.errors import ModelError, StoreError, StoreUnavailable
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.base import Store
from replicast.store.predictions import UNSET
from replicast.worker.run import Running

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[Prediction | None]]
"""One try at the status change that ends a run: the prediction changed, or None if it
is no longer this run's."""

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Ending:
    """The status change that ends a run, and the output it leaves on record."""

    write: Write
    output: Any = UNSET
    """The output the change records; UNSET if it keeps the stored one (at most the
    items the run emitted)."""


def returned(lifecycle: Lifecycle, run: Running, predict: asyncio.Future[Any], logs: str
             ) -> Ending:
    """The ending of a run whose model returned, raised or canceled itself."""
    started, ended_at = run.prediction, lifecycle.clock()
    if predict.cancelled():  # the model canceled itself
        output = run.output()
        return Ending(functools.partial(lifecycle.cancel, started, logs=logs, output=output,
                                        by_run=True, ended_at=ended_at), output)
    error = predict.exception()
    if error is None:
        output = predict.result()
        if output is None and run.items:
            output = list(run.items)
        try:
            orjson.dumps(output)
        except TypeError as exc:
            return Ending(functools.partial(
                lifecycle.fail, started, f"The model returned output that is not JSON: {exc}",
                logs=logs, metrics=run.metrics, by_run=True, ended_at=ended_at))
        return Ending(functools.partial(lifecycle.succeed, started, output, logs=logs,
                                        metrics=run.metrics, ended_at=ended_at), output)
    output = run.output()
    if isinstance(error, ModelError):
        return Ending(functools.partial(lifecycle.fail, started, str(error), logs=logs,
                                        metrics=run.metrics, output=output, by_run=True,
                                        ended_at=ended_at), output)
    # Not by_run: a runner that broke may have left its upstream work running.
    log.error("%s raised %r", started.model, error, exc_info=error)
    trace = "".join(traceback.format_exception(error))
    return Ending(functools.partial(lifecycle.fail, started, f"{type(error).__name__}: {error}",
                                    logs=logs + trace, metrics=run.metrics, output=output,
                                    ended_at=ended_at), output)


def canceled(lifecycle: Lifecycle, run: Running, logs: str, note: str) -> Ending:
    """The ending of a run asked to cancel (``note``, the canceler's line): finished at
    once, with everything it produced, while the model winds down."""
    output = run.output()
    return Ending(functools.partial(lifecycle.cancel, run.prediction, logs=logs + note,
                                    output=output, by_run=True), output)


def timed_out(lifecycle: Lifecycle, run: Running, timeout: float, logs: str) -> Ending:
    """The ending of a run that went on past ``timeout`` seconds (and was stopped)."""
    output = run.output()
    return Ending(functools.partial(
        lifecycle.fail, run.prediction,
        f"Prediction timed out after running for {timeout:g} seconds",
        logs=logs, metrics=run.metrics, output=output, by_run=True,
        ended_at=lifecycle.clock()), output)


async def record(store: Store, run: Running, ending: Ending) -> Prediction | None:
    """Make the ending's change, again while the store cannot take it; the prediction on
    record afterwards (None if it could not be read).

    The run's files that the change will not name go first: on a full disk, that may
    be the room the change needs.
    """
    await run.discard_files(list(run.items) if ending.output is UNSET else ending.output)
    wait, failures = FIRST_RETRY_SECONDS, 0
    while True:
        try:
            recorded = await ending.write()
            break
        except StoreUnavailable as exc:
            if not failures:
                log.warning("prediction %s has ended, but the store cannot record it yet; "
                            "its outcome is kept and recorded once it can: %s",
                            run.prediction_id, exc)
            failures += 1
        await asyncio.sleep(wait)
        wait = min(wait * 2, MAX_RETRY_SECONDS)
    if failures:
        log.warning("prediction %s: its outcome is recorded (%s)", run.prediction_id,
                    "taken back meanwhile" if recorded is None else recorded.status.value)
    return recorded if recorded is not None else await keep_named_files(store, run, None)


async def keep_named_files(store: Store, run: Running,
                           recorded: Prediction | None) -> Prediction | None:
    """Delete the run's files that the prediction on record (``recorded``, or read if
    None) does not name; that prediction."""
    if recorded is None:  # no longer this run's: what does the record name?
        try:
            recorded = await store.predictions.get(run.prediction_id)
        except StoreError:
            return None  # unknown: keep the files rather than break a link
    await run.discard_files(None if recorded is None else recorded.output)
    return recorded
