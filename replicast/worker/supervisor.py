"""Seeing a started run through, to the change that records how it ended.

The model runs as a task (``fetch_then_predict``: its input files first, then the
prediction in a slot; started at once, ``replicast.eager``, and a task from its first
wait on) while the prediction's channel is watched (``_Watch``). A run
ends in one of four ways (``RunSupervisor._ending``): the model returns (succeeded, or
failed or canceled by itself), the run is asked to cancel (canceled at once, with what
it produced), someone else finishes the prediction first (a cancel that did not wait,
a deadline: nothing to record), or it runs past ``predict_timeout`` (failed). A stop of
the worker is a fifth: the prediction goes back to the queue (``_put_back``). Whatever
the store says, the model is asked to stop before the supervisor returns, and given
``_CANCEL_GRACE`` seconds to; a run that ignores it keeps its slot until it ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from replicast.broker.base import Broker, Subscription
from replicast.eager import eager
from replicast.models.base import Model
from replicast.predictions.events import Event, EventKind
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.store.base import Store
from replicast.worker import outcome
from replicast.worker.leases import Leases
from replicast.worker.recovery import interrupted_note
from replicast.worker.run import Running
from replicast.worker.slots import Claim

log = logging.getLogger(__name__)

# How long a run that was asked to stop is waited for before the supervisor goes on (one
# that ignores the cancel keeps its slot until it ends).
_CANCEL_GRACE = 5.0
FETCH_PATIENCE = 1.0
"""Seconds a prediction's input files may take to arrive before its claim on a slot is
given up for the next prediction."""


@dataclass(frozen=True, slots=True)
class RunSupervisor:
    """Runs started predictions' models and records how each run ended."""

    store: Store
    broker: Broker
    lifecycle: Lifecycle
    leases: Leases
    predict_timeout: float
    max_attempts: int

    async def run(self, model: Model, run: Running, inputs: dict[str, Any],
                  subscription: Subscription, claim: Claim) -> None:
        """Run the model, watching the prediction's channel, until it ends; record how."""
        over: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Started at once, up to its first wait (the command written to a predictor's
        # process): no turn of the loop between the commit and the model's start.
        predict = eager(fetch_then_predict(model, run, inputs, claim, over))
        watch = _Watch(run, predict)
        subscription.listen(watch.on_event)
        try:
            async with asyncio.timeout(self.predict_timeout):
                await over  # set as the run returns: one turn of the loop, not three
        except TimeoutError:
            pass  # it went on for too long: stopped below
        except asyncio.CancelledError:  # the worker is stopping
            subscription.listen(None)
            await self._put_back(run, predict)
            raise
        subscription.listen(None)
        self.leases.ending(run.prediction)
        ending = await self._ending(watch, run, predict)
        recorded = watch.ended_elsewhere
        try:
            if ending is not None:
                recorded = await outcome.record(self.store, run, ending)
                # Those waiting for the outcome (a synchronous create's answer) go first;
                # the run's tidying up comes after, while that answer travels.
                await asyncio.sleep(0)
        finally:
            await _stop(run, predict)  # whatever the store said, the model is stopped
        await outcome.keep_named_files(self.store, run, recorded)  # what the wind-down saved

    async def _ending(self, watch: _Watch, run: Running, predict: asyncio.Future[Any]
                      ) -> outcome.Ending | None:
        """The change that records how the run ended; None if it was ended elsewhere."""
        if watch.ended_elsewhere is not None:
            await run.finish()
            return None
        if watch.cancel_note is not None:
            return outcome.canceled(self.lifecycle, run, await run.finish(), watch.cancel_note)
        if predict.done():
            return outcome.returned(self.lifecycle, run, predict, await run.finish())
        await _stop(run, predict)
        return outcome.timed_out(self.lifecycle, run, self.predict_timeout, await run.finish())

    async def _put_back(self, run: Running, predict: asyncio.Future[Any]) -> None:
        """Stop a run cut short by the worker's stop, and queue its prediction again."""
        started = run.prediction
        run.interrupted = True  # to run again: leave what it started elsewhere running
        await _stop(run, predict)
        await run.finish()
        requeued = await self.lifecycle.requeue(
            started, interrupted_note(started.attempt, self.max_attempts))
        if requeued is not None:
            await run.discard_files(requeued.output)
            if self.broker.shared:
                await self.broker.enqueue(started.model, started.id)  # for another worker


async def fetch_then_predict(model: Model, run: Running, inputs: dict[str, Any],
                             claim: Claim, over: asyncio.Future[None] | None = None) -> Any:
    """The run: its input files fetched (stepping aside if that takes long), then the
    model's prediction, in a slot. Canceled as a whole, downloads included; the files
    are gone before the outcome is recorded. ``over`` is set as it returns or raises
    (its task is done by the time whoever waits for ``over`` wakes)."""
    try:
        try:
            if model.file_inputs and not model.runner.hands_on:
                aside = asyncio.get_running_loop().call_later(FETCH_PATIENCE,
                                                              claim.step_aside)
                try:
                    await run.prepare_inputs(inputs, model.file_inputs)
                finally:
                    aside.cancel()
            async with claim.running():
                return await model.runner.predict(run, inputs)
        finally:
            await run.remove_inputs()
    finally:
        if over is not None and not over.done():
            over.set_result(None)


class _Watch:
    """What the prediction's channel says while its run goes on: a nudge wakes the
    runner; a cancel asked of the run, or an end made elsewhere, stops the model."""

    def __init__(self, run: Running, predict: asyncio.Future[Any]) -> None:
        self.run = run
        self.predict = predict
        self.cancel_note: str | None = None
        """The canceler's line, once the run is asked to cancel."""
        self.ended_elsewhere: Prediction | None = None
        """The prediction, once another hand has finished it (a cancel that did not
        wait for the run, a deadline)."""

    def on_event(self, event: Event) -> None:
        if event.kind is EventKind.NUDGE:
            self.run.nudge()
            return
        if event.kind is EventKind.CANCEL:
            self.cancel_note = str(event.data or "")
        elif event.kind is EventKind.STATUS and event.prediction is not None \
                and event.prediction.terminal:
            self.ended_elsewhere = event.prediction
        else:
            return
        self.run.cancel_event.set()
        self.predict.cancel()


async def _stop(run: Running, predict: asyncio.Future[Any]) -> None:
    run.cancel_event.set()
    if predict.done():  # the usual case: nothing to stop or wait for
        _looked_at(predict)
        return
    if run.abandoned:
        return  # given its grace already
    predict.cancel()
    # Not wait_for: on its timeout it cancels again and waits for the run to end, which a
    # run that ignores cancellation never does. Past the grace the supervisor goes on; the
    # run keeps its slot until it ends (``Claim.release``), its result looked at then.
    await asyncio.wait({predict}, timeout=_CANCEL_GRACE)
    if not predict.done():
        run.abandoned = True
        log.warning("prediction %s: its run did not stop within %g s of being asked to; it "
                    "keeps the model's slot until it does", run.prediction_id, _CANCEL_GRACE)
    predict.add_done_callback(_looked_at)


def _looked_at(predict: asyncio.Future[Any]) -> None:
    """Look at how the run ended, whatever it was (asyncio logs an error never looked at)."""
    if not predict.cancelled():
        predict.exception()
