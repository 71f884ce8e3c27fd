"""Every change to a prediction goes through here: persisted first, then announced.

Status changes are checked against the state machine, applied compare-and-set in
the store, and published on the prediction's channel, so waiters, streams and the
worker running it all learn of them. Side effects (webhooks, metrics, telling an
upstream) are the listeners' (``predictions.listener``), given at construction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from replicast import times
from replicast.broker.base import Broker
from replicast.predictions.events import Event, EventKind, Progress
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status, check_transition, sources_of
from replicast.store.predictions import UNSET, Change, Guard, PredictionStore

if TYPE_CHECKING:
    from replicast.broker.offer import Insert
    from replicast.webhooks.delivery import Delivery

log = logging.getLogger(__name__)

CANCEL_GRACE = 3.0
"""Seconds a running prediction's worker gets to finish it after a cancel."""
_ENDED_HERE = frozenset({Status.FAILED, Status.CANCELED, Status.ABORTED})


class Lifecycle:
    """Applies and announces changes to predictions."""

    def __init__(
        self, store: PredictionStore, broker: Broker,
        clock: Callable[[], datetime] = times.now, *,
        listeners: Sequence[LifecycleListener] = (),
    ) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self.listeners = tuple(listeners)
        self._unannounced: dict[str, Prediction] = {}
        """Starts ``begin`` committed, not yet published (until the loop's next step)."""

    @property
    def listeners(self) -> tuple[LifecycleListener, ...]:
        """Told of the changes made here, in this order."""
        return self._listeners

    @listeners.setter
    def listeners(self, listeners: Sequence[LifecycleListener]) -> None:
        self._listeners = tuple(listeners)
        # Those with deliveries of their own to commit with a status change.
        self._delivering = tuple(
            listener for listener in self._listeners
            if getattr(type(listener), "deliveries", None) is not LifecycleListener.deliveries)

    def _deliveries(self, prediction: Prediction) -> list[Delivery]:
        """The listeners' deliveries for a status change (inside its transaction)."""
        return [d for listener in self._delivering for d in listener.deliveries(prediction)]

    async def _move(self, prediction_id: str, change: Change,
                    expected: frozenset[Status] | None = None,
                    guard: Guard | None = None, *,
                    known: Prediction | None = None) -> Prediction | None:
        """``known``: the caller's copy of the prediction, if it has one, which tells
        whether any listener may have deliveries to commit with the change."""
        assert change.status is not None
        if expected is None:
            expected = sources_of(change.status)
        for status in expected:
            check_transition(status, change.status)
        self._announce_start(prediction_id)
        delivering = self._delivering and (
            known is None or any(listener.delivers(known) for listener in self._delivering))
        updated = await self.store.update(
            prediction_id, expected, change, guard=guard,
            deliveries=self._deliveries if delivering else None,
        )
        if updated is not None:
            self.broker.publish(Event(prediction_id, EventKind.STATUS, updated))
            for listener in self.listeners:
                listener.status_changed(updated)
        return updated

    async def start(self, prediction_id: str, worker_id: str,
                    lease: float) -> Prediction | None:
        """starting -> processing, counting a run, claimed by ``worker_id`` for ``lease``
        seconds; None if it is no longer starting or its deadline has passed."""
        now = self.clock()
        return await self._move(
            prediction_id,
            Change(status=Status.PROCESSING, started_at=now, next_attempt=True,
                   worker_id=worker_id, lease_until=now + timedelta(seconds=lease)),
            expected=frozenset({Status.STARTING}), guard=Guard(deadline_after=now),
        )

    async def begin(self, prediction: Prediction, worker_id: str, lease: float,
                    insert: Insert) -> Prediction:
        """Commit a new prediction already started (``replicast.broker.offer``): processing,
        its first run counted, claimed by ``worker_id`` for ``lease`` seconds, the
        deliveries of its start in the same transaction (``insert``, which raises what
        keeps it from being committed). The started prediction."""
        check_transition(prediction.status, Status.PROCESSING)
        now = self.clock()
        started = dataclasses.replace(
            prediction, status=Status.PROCESSING, started_at=now, attempt=prediction.attempt + 1,
            worker_id=worker_id, lease_until=now + timedelta(seconds=lease))
        await insert(started, self._deliveries(started) if self._delivering else ())
        # Announced once the step of the loop that committed it is over: by then its run
        # has usually begun (its command written to a predictor's process), so publishing
        # and the listeners do not hold up the model. Whatever is published about it
        # first publishes this before it (``_announce_start``).
        self._unannounced[started.id] = started
        asyncio.get_running_loop().call_soon(self._announce_start, started.id)
        return started

    def _announce_start(self, prediction_id: str) -> None:
        """Publish a start that ``begin`` committed, unless that was done already (or
        there is none: called before anything else is said about a prediction). Its
        run has begun: a listener that fails is logged, and stops nothing (not the change
        about to be made, which published this first)."""
        started = self._unannounced.pop(prediction_id, None)
        if started is None:
            return
        try:
            self.broker.publish(Event(prediction_id, EventKind.STATUS, started))
            for listener in self.listeners:
                listener.status_changed(started)
        except Exception:
            log.exception("announcing the start of prediction %s failed", prediction_id)

    async def succeed(self, prediction: Prediction, output: Any, *, logs: str = "",
                      metrics: dict[str, Any] | None = None,
                      ended_at: datetime | None = None) -> Prediction | None:
        """processing -> succeeded with ``output``. ``ended_at``: when the run ended, if
        not now (an outcome recorded once the store took writes again)."""
        return await self._finish(prediction, Status.SUCCEEDED, output=output, logs=logs,
                                  metrics=metrics, by_run=True, ended_at=ended_at)

    async def fail(self, prediction: Prediction, error: str, *, logs: str = "",
                   metrics: dict[str, Any] | None = None, output: Any = UNSET,
                   by_run: bool = False, ended_at: datetime | None = None) -> Prediction | None:
        """starting or processing -> failed with ``error``. ``by_run`` when the run
        itself ends it (then it has told whatever it handed the prediction to);
        ``ended_at`` as for ``succeed``."""
        return await self._finish(prediction, Status.FAILED, error=error, logs=logs,
                                  metrics=metrics, output=output, by_run=by_run,
                                  ended_at=ended_at)

    async def cancel(self, prediction: Prediction, *, logs: str = "", output: Any = UNSET,
                     by_run: bool = False, ended_at: datetime | None = None
                     ) -> Prediction | None:
        """starting or processing -> canceled (``by_run`` and ``ended_at`` as for ``fail``)."""
        return await self._finish(prediction, Status.CANCELED, logs=logs, output=output,
                                  by_run=by_run, ended_at=ended_at)

    async def stop(self, prediction_id: str, *, unstarted: Status,
                   note: str = "") -> Prediction | None:
        """End a prediction early: one not started yet becomes ``unstarted`` (canceled or
        aborted) at once; a running one is finished as canceled by whoever runs it, so
        that the logs and output it produced so far are kept, or here if nobody does
        within ``CANCEL_GRACE`` seconds. The prediction afterwards (None if unknown)."""
        for _ in range(3):  # a worker may take it between the read and the write
            current = await self.store.get(prediction_id)
            if current is None or current.terminal:
                return current
            if current.status is Status.STARTING:
                done = await self._finish(current, unstarted)
            else:
                done = await self._stop_running(current, note)
            if done is not None:
                return done
        return await self.store.get(prediction_id)

    async def _stop_running(self, prediction: Prediction, note: str) -> Prediction | None:
        loop = asyncio.get_running_loop()
        async with self.broker.subscribe(prediction.id) as subscription:
            self._announce_start(prediction.id)
            self.broker.publish(Event(prediction.id, EventKind.CANCEL, data=note))
            give_up = loop.time() + CANCEL_GRACE
            while (remaining := give_up - loop.time()) > 0:
                event = await subscription.next(remaining)
                if event is None:
                    break
                if event.kind is EventKind.STATUS and event.prediction is not None \
                        and event.prediction.terminal:
                    return event.prediction
        # Nobody answered: the process running it is gone or stuck.
        return await self.cancel(prediction, logs=note)

    async def abort(self, prediction: Prediction) -> Prediction | None:
        """starting -> aborted: the deadline passed before the run began."""
        return await self._finish(prediction, Status.ABORTED)

    async def _finish(self, prediction: Prediction, status: Status, *, output: Any = UNSET,
                      error: str | None = None, logs: str = "",
                      metrics: dict[str, Any] | None = None,
                      by_run: bool = False, ended_at: datetime | None = None
                      ) -> Prediction | None:
        completed_at = ended_at or self.clock()
        summary = dict(metrics or {})
        if prediction.started_at is not None and prediction.status is Status.PROCESSING:
            # A runner that knows better (a routed model: the upstream's own time) says so.
            summary.setdefault("predict_time",
                               (completed_at - prediction.started_at).total_seconds())
        summary["total_time"] = (completed_at - prediction.created_at).total_seconds()
        # The caller's copy may be stale; only the status (and worker) it saw may be left.
        finished = await self._move(
            prediction.id,
            Change(status=status, completed_at=completed_at, output=output,
                   error=error if status is Status.FAILED else UNSET,
                   append_logs=logs, metrics=summary),
            expected=frozenset({prediction.status}), guard=_same_run(prediction),
            known=prediction,
        )
        if finished is not None and not by_run and status in _ENDED_HERE:
            for listener in self.listeners:
                listener.ended_here(finished)
        return finished

    async def requeue(self, prediction: Prediction, note: str, *,
                      lease_expired_before: datetime | None = None) -> Prediction | None:
        """processing -> starting: run it again from the beginning, logging why (``note``,
        one line). With ``lease_expired_before``, only if its worker's lease ran out
        before then.

        The logs of the run are dropped, as its output is, but not the notes of earlier
        interruptions: the logs begin with one line per earlier run, each saying why it
        did not finish, and this note joins them.
        """
        earlier = "".join(prediction.logs.splitlines(keepends=True)[:prediction.attempt - 1])
        return await self._move(
            prediction.id,
            Change(status=Status.STARTING, started_at=None, output=None, logs=earlier + note,
                   worker_id=None, lease_until=None),
            expected=frozenset({Status.PROCESSING}),
            guard=Guard(worker_id=prediction.worker_id, attempt=prediction.attempt,
                        lease_expired_before=lease_expired_before),
        )

    async def record_upstream(self, prediction: Prediction, upstream_id: str) -> bool:
        """Keep the id an unfinished prediction got at its upstream (gateway mode);
        False if it has finished, or another run has it now."""
        updated = await self.store.update(
            prediction.id, frozenset({Status.STARTING, Status.PROCESSING}),
            Change(upstream_id=upstream_id), guard=_same_run(prediction),
        )
        return updated is not None

    def preview(self, prediction_id: str, data: dict[str, Any]) -> None:
        """Publish a preview of a running prediction's image (``events.preview_data``)."""
        self._announce_start(prediction_id)
        self.broker.publish(Event(prediction_id, EventKind.PREVIEW, data=data))

    def announce(self, prediction_id: str, progress: Progress) -> None:
        """Tell streams about new logs and output items of a running prediction."""
        self._announce_start(prediction_id)
        self.broker.publish(Event(prediction_id, EventKind.PROGRESS, data=progress))

    async def persist(self, prediction: Prediction, logs: str, output: Any = UNSET, *,
                      logs_length: int, items_length: int) -> bool:
        """Write announced logs (appended) and output of a running prediction.

        ``logs_length`` and ``items_length`` say how much is in the store afterwards.
        False once the prediction is no longer running (or no longer this run).
        """
        prediction_id = prediction.id
        self._announce_start(prediction_id)
        updated = await self.store.update(
            prediction_id, frozenset({Status.PROCESSING}),
            Change(append_logs=logs, output=output), guard=_same_run(prediction),
        )
        if updated is None:
            return False
        self.broker.publish(Event(prediction_id, EventKind.PERSISTED,
                                  data=(logs_length, items_length)))
        for listener in self.listeners:
            listener.progressed(updated, output=output is not UNSET, logs=bool(logs))
        return True


def _same_run(prediction: Prediction) -> Guard | None:
    """For a running prediction, a guard that holds only while the same run goes on."""
    if prediction.status is Status.PROCESSING and prediction.worker_id is not None:
        return Guard(worker_id=prediction.worker_id, attempt=prediction.attempt)
    return None
