"""The worker: takes queued predictions, runs their models, records the outcome.

Each model has ``concurrency`` slots (``slots``; shared by models whose runners share a
pool, as one pipeline serving several models) and that many consumer tasks, plus
``SLOW_FETCHES`` more: a prediction's input files are fetched before it takes a slot,
so up to that many predictions whose downloads are slow can go on with them while
others run. A run ends in one of four ways: the model returns (succeeded), raises
(failed), someone else finishes the prediction first (a cancel or a deadline; the run
is stopped, its downloads too), or it runs past ``predict_timeout`` (failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from replicast import times
from replicast.broker.base import Broker, Subscription
from replicast.config import Settings
from replicast.errors import (
    BrokerError,
    ConfigError,
    InvalidInput,
    ReplicastError,
    RequestError,
    StoreError,
    StoreUnavailable,
)
from replicast.files.service import FilesService
from replicast.input_files import FileLimits
from replicast.inputs import InputFetcher
from replicast.logs import prediction_context
from replicast.models.base import Model
from replicast.models.registry import Registry
from replicast.outputs.base import OutputStore
from replicast.predictions.events import Event, EventKind
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.base import Store
from replicast.worker import outcome
from replicast.worker.leases import Leases, new_worker_id
from replicast.worker.pools import Pool, dequeue_any, pools
from replicast.worker.recovery import interrupted_note, recover
from replicast.worker.run import Run
from replicast.worker.slots import Claim, Slots

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a runner that ignores cancellation may keep its slot after a cancel.
_CANCEL_GRACE = 5.0
SLOW_FETCHES = 4
"""Predictions of one model whose input files may go on downloading, each past
``FETCH_PATIENCE``, while as many others as the model's concurrency are taken and run."""
FETCH_PATIENCE = 1.0
"""Seconds a prediction's input files may take to arrive before its claim on a slot is
given up for the next prediction."""
# How often a worker puts back what the broker lost (a restart of a shared one, or an id
# whose start the store failed), and how old a waiting prediction must be to count as
# lost (younger ones may be on their way).
RESTORE_SECONDS = 5.0
_RESTORE_AFTER = timedelta(seconds=2)
_RESTORE_BATCH = 1000
# How often a worker looks for routed models to serve: those named in the routes until
# their upstream describes them, and (on a shared store) those of waiting predictions.
ROUTES_SECONDS = 1.0
_ROUTES_BACKOFF_MAX = 30.0


class Worker:
    """Runs predictions of the models it serves (all of a registry, or a chosen few)."""

    def __init__(self, settings: Settings, registry: Registry, store: Store, broker: Broker,
                 lifecycle: Lifecycle, outputs: OutputStore, fetcher: InputFetcher, *,
                 files: FilesService | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.broker = broker
        self.lifecycle = lifecycle
        self.outputs = outputs
        self.fetcher = fetcher
        self.files = files
        """Where input URLs of this server's own uploaded files are read from."""
        self.file_limits = FileLimits(settings.max_input_files,
                                      settings.max_input_total_bytes)
        self.worker_id = new_worker_id()
        self.models = served_models(registry, settings.worker_models)
        self.leases = Leases(store.runs, lifecycle, broker, worker_id=self.worker_id,
                             models=tuple(m.full_name for m in self.models),
                             lease=settings.lease_seconds, max_attempts=settings.max_attempts)
        self._routed: dict[str, Model] = {}  # routed models served, as last resolved
        self._awaited: set[str] = set()  # routed names with predictions left from before
        self._consumers: list[asyncio.Task[None]] = []
        self._idle: set[asyncio.Task[Any]] = set()
        self._restorer: asyncio.Task[None] | None = None
        self._router: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Set up the models, put back interrupted work, and start consuming."""
        for model in self.models:
            await model.runner.setup()
        self.registry.on_resolved(self.serve)
        if not self.store.shared:
            # This process owns the store alone: whatever is unfinished was its own.
            requeued = await recover(self.store, self.lifecycle, self.registry, self.broker,
                                     self.settings.max_attempts, later=self._awaited.add)
            if requeued:
                log.info("resumed %d unfinished prediction(s)", requeued)
        await self.leases.start()
        self._restorer = asyncio.create_task(self._restore_forever(), name="restore")
        for pool in pools(self.models):
            self._start_consumers(pool)
        if self.registry.resolver is not None:
            self._router = asyncio.create_task(self._follow_routes(), name="routes")
        log.info("worker %s serves %s", self.worker_id,
                 ", ".join(m.full_name for m in self.models) or "no model")

    def serve(self, model: Model) -> None:
        """Serve a routed model from now on (its queue gets consumers the first time)."""
        if self._stopping or (self.settings.worker_models
                              and model.full_name not in self.settings.worker_models):
            return
        first = model.full_name not in self._routed
        self._routed[model.full_name] = model
        if first:
            # Reported with the next heartbeat, beside the local models.
            self.leases.models = (*(m.full_name for m in self.models), *self._routed)
            self._start_consumers(Pool({model.full_name: model}))

    def _start_consumers(self, pool: Pool) -> None:
        slots = Slots(pool.concurrency)
        self._consumers.extend(asyncio.create_task(
            self._consume(pool, slots), name=f"worker-{pool.label}-{number}"
        ) for number in range(pool.concurrency + SLOW_FETCHES))

    async def _follow_routes(self) -> None:
        """Serve routed models without waiting for this process to be asked for them.

        A worker of its own (``replicast worker``) answers no API request, so it resolves
        the routed names itself: the exact ones from the start, tried again with backoff
        while their upstream cannot describe them; on a shared store, also those that
        predictions are waiting for (pattern routes). Resolving them again now and then
        keeps their schemas fresh (the gateway caches them ``schema_ttl``).
        """
        resolver = self.registry.resolver
        assert resolver is not None
        wanted = self.settings.worker_models
        exact = [n for n in (wanted or resolver.exact_names()) if self.registry.routed(n)]
        discover = self.store.shared and resolver.has_patterns and not wanted
        failures: dict[str, int] = {}
        next_try: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while not self._stopping:
            names = list(dict.fromkeys([*exact, *self._awaited, *self._routed]))
            if discover:
                try:
                    names += [n for n in await self.store.runs.waiting_models(_RESTORE_BATCH)
                              if n not in names and self.registry.routed(n)]
                except Exception as exc:
                    log.warning("could not look for waiting routed predictions: %s", exc)
            for name in names:
                if loop.time() < next_try.get(name, 0.0):
                    continue
                try:
                    found = await self.registry.lookup(name)  # serves it (``on_resolved``)
                except Exception as exc:
                    failures[name] = failures.get(name, 0) + 1
                    wait = min(_ROUTES_BACKOFF_MAX, ROUTES_SECONDS * 2 ** failures[name])
                    next_try[name] = loop.time() + wait
                    if failures[name] == 1:
                        log.warning("cannot serve %s yet (trying again): %s", name, exc)
                    continue
                if found is None and name in exact:
                    log.warning("the upstream has no model %s; not serving it", name)
                    exact.remove(name)
                if found is None and name in self._awaited:
                    await self._gone(name)
                self._awaited.discard(name)
                failures.pop(name, None)
                next_try.pop(name, None)
            await asyncio.sleep(ROUTES_SECONDS)

    async def _gone(self, name: str) -> None:
        """Fail the predictions left waiting for a routed model its upstream no longer has."""
        waiting = await self.store.runs.list_waiting([name], times.now(), _RESTORE_BATCH)
        for prediction_id, _ in waiting:
            prediction = await self.store.predictions.get(prediction_id)
            if prediction is not None and prediction.status is Status.STARTING:
                await self.lifecycle.fail(
                    prediction, f"The model {name} is no longer served by its upstream")

    async def _restore_forever(self) -> None:
        while True:
            await asyncio.sleep(RESTORE_SECONDS)
            names = [*(m.full_name for m in self.models), *self._routed]
            try:
                waiting = await self.store.runs.list_waiting(names, times.now() - _RESTORE_AFTER,
                                                             _RESTORE_BATCH)
                by_model: dict[str, list[str]] = {}
                for prediction_id, model in waiting:
                    by_model.setdefault(model, []).append(prediction_id)
                for model, prediction_ids in by_model.items():
                    restored = await self.broker.restore(model, prediction_ids)
                    if restored:
                        log.warning("queued %d waiting prediction(s) of %s again: the queue "
                                    "had lost them", restored, model)
            except StoreUnavailable:
                pass  # the store logs each outage once
            except Exception:
                log.exception("could not check the queues against the store; trying again")

    async def stop(self, grace: float) -> None:
        """Stop taking work; give running predictions ``grace`` seconds, then stop them.

        A prediction stopped here goes back to the queue and runs again at the
        next start.
        """
        self._stopping = True
        for background in (self._restorer, self._router):
            if background is not None:
                background.cancel()
        for task in self._consumers:
            if task in self._idle:
                task.cancel()
        busy = [t for t in self._consumers if not t.done()]
        if busy and grace > 0:
            await asyncio.wait(busy, timeout=grace)
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._consumers.clear()
        await self.leases.stop()

    async def _consume(self, pool: Pool, slots: Slots) -> None:
        task = asyncio.current_task()
        assert task is not None
        names = list(pool.models)
        while not self._stopping:
            self._idle.add(task)
            try:
                for waiting in pool.models.values():
                    await waiting.runner.wait_ready()
                claim = await slots.claim()
                try:
                    name, prediction_id = await dequeue_any(self.broker, names)
                except BaseException:
                    claim.release()
                    raise
            finally:
                self._idle.discard(task)
            model = pool.models[name]
            try:
                # A routed model's schema may have been fetched again since: use the latest.
                await self._execute(self._routed.get(model.full_name, model), prediction_id,
                                    claim)
            except asyncio.CancelledError:
                raise
            except (BrokerError, _NotTaken) as exc:
                # Not started: it is still waiting in the store, and goes back to the queue.
                if not isinstance(exc.__cause__, StoreUnavailable):  # logged by the store
                    log.warning("could not take prediction %s: %s", prediction_id, exc)
                await self.broker.enqueue(model.full_name, prediction_id)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("the worker failed while handling prediction %s", prediction_id)
            finally:
                claim.release()

    async def _execute(self, model: Model, prediction_id: str, claim: Claim) -> None:
        with prediction_context(prediction_id):
            await self._execute_tagged(model, prediction_id, claim)

    async def _execute_tagged(self, model: Model, prediction_id: str, claim: Claim) -> None:
        try:
            model = await self._at_its_version(model, prediction_id)
        except RequestError as exc:
            await self._not_taken(self._fail_waiting(prediction_id, exc.detail))
            return
        except StoreError as exc:
            raise _NotTaken(exc) from exc
        async with self.broker.subscribe(prediction_id) as subscription:
            started = await self._not_taken(self.lifecycle.start(
                prediction_id, self.worker_id, self.settings.lease_seconds))
            if started is None:
                await self._not_taken(self._not_started(prediction_id))
                return
            self.leases.hold(started)
            try:
                await self._begin(model, started, subscription, claim)
            finally:
                self.leases.release(started)

    async def _begin(self, model: Model, started: Prediction,
                     subscription: Subscription, claim: Claim) -> None:
        run = Run(started, self.lifecycle, self.outputs, self.fetcher, files=self.files,
                  file_limits=self.file_limits)
        unknown: list[str] = []
        if started.upstream_id is not None:
            # Handed on already: the run follows it there, and the input it was
            # validated with at its create is the upstream's business now.
            inputs = started.run_input()
        else:
            try:
                inputs, unknown = model.validator.validate(started.run_input())
            except InvalidInput as exc:
                self.leases.ending(started)
                await outcome.record(self.store, run, outcome.Ending(functools.partial(
                    self.lifecycle.fail, started, f"Invalid input: {exc.detail}")))
                return
        for name in unknown:
            run.log(f"Ignoring input {name!r}: {model.full_name} has no such input\n")
        await self._run(model, run, inputs, subscription, claim)

    async def _not_taken(self, step: Awaitable[T]) -> T:
        """``step``, of taking a prediction before its run begins: if the store fails it,
        the prediction is still waiting, and ``_NotTaken`` sends it back to the queue."""
        try:
            return await step
        except StoreError as exc:
            raise _NotTaken(exc) from exc

    async def _fail_waiting(self, prediction_id: str, error: str) -> None:
        waiting = await self.store.predictions.get(prediction_id)
        if waiting is not None and waiting.status is Status.STARTING:
            await self.lifecycle.fail(waiting, error)

    async def _at_its_version(self, model: Model, prediction_id: str) -> Model:
        """The model to run the prediction with: a routed one not handed on yet may have
        been made at another of its upstream's versions, to be created by that one.
        Looked up before the run starts, so that no event of the run can be missed."""
        if not self.registry.routed(model.full_name):
            return model
        waiting = await self.store.predictions.get(prediction_id)
        if waiting is None or waiting.upstream_id is not None \
                or waiting.version == model.prediction_version:
            return model
        return await self.registry.lookup_version(f"{model.full_name}:{waiting.version}")

    async def _not_started(self, prediction_id: str) -> None:
        """A queued prediction that could not start: already finished or taken, or past
        its deadline (then it is aborted here)."""
        prediction = await self.store.predictions.get(prediction_id)
        if prediction is not None and prediction.status is Status.STARTING \
                and prediction.deadline is not None and times.now() >= prediction.deadline:
            await self.lifecycle.abort(prediction)

    async def _run(self, model: Model, run: Run, inputs: dict[str, Any],
                   subscription: Subscription, claim: Claim) -> None:
        started = run.prediction
        predict = asyncio.create_task(self._fetch_then_predict(model, run, inputs, claim))
        cancel_note: str | None = None  # set when asked to cancel
        ended_elsewhere: Prediction | None = None

        def on_event(event: Event) -> None:
            nonlocal cancel_note, ended_elsewhere
            if event.kind is EventKind.NUDGE:
                run.nudge()
                return
            if event.kind is EventKind.CANCEL:
                cancel_note = str(event.data or "")
            elif event.kind is EventKind.STATUS and event.prediction is not None \
                    and event.prediction.terminal:
                ended_elsewhere = event.prediction  # canceled by another hand, which did not wait
            else:
                return
            run.cancel_event.set()
            predict.cancel()

        subscription.listen(on_event)
        try:
            await asyncio.wait({predict}, timeout=self.settings.predict_timeout)
        except asyncio.CancelledError:
            subscription.listen(None)
            run.interrupted = True  # to run again: leave what it started elsewhere running
            await _stop(run, predict)
            await run.finish()
            requeued = await self.lifecycle.requeue(
                started, interrupted_note(started.attempt, self.settings.max_attempts)
            )
            if requeued is not None:
                await run.discard_files(requeued.output)
                if self.broker.shared:
                    await self.broker.enqueue(started.model, started.id)  # for another worker
            raise
        subscription.listen(None)
        self.leases.ending(started)
        ending: outcome.Ending | None = None
        if ended_elsewhere is not None:
            await run.finish()
        elif cancel_note is not None:
            # Finish it at once, with everything it produced, then let the model wind down.
            logs, output = await run.finish(), run.output()
            ending = outcome.Ending(functools.partial(
                self.lifecycle.cancel, started, logs=logs + cancel_note, output=output,
                by_run=True), output)
        elif predict.done():
            ending = outcome.returned(self.lifecycle, run, predict, await run.finish())
        else:
            await _stop(run, predict)
            output = run.output()
            ending = outcome.Ending(functools.partial(
                self.lifecycle.fail, started,
                f"Prediction timed out after running for {self.settings.predict_timeout:g} seconds",
                logs=await run.finish(), metrics=run.metrics, output=output, by_run=True,
                ended_at=self.lifecycle.clock(),
            ), output)
        recorded = ended_elsewhere
        try:
            if ending is not None:
                recorded = await outcome.record(self.store, run, ending)
        finally:
            await _stop(run, predict)  # whatever the store said, the model stops
        await outcome.keep_named_files(self.store, run, recorded)  # what the wind-down saved

    async def _fetch_then_predict(self, model: Model, run: Run, inputs: dict[str, Any],
                                  claim: Claim) -> Any:
        """The run: its input files fetched (stepping aside if that takes long), then the
        model's prediction, in a slot. Canceled as a whole, downloads included; the files
        are gone before the outcome is recorded."""
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
            # Shielded: a second cancel (a stop after a cancel) must not leave them behind.
            await asyncio.shield(run.remove_inputs())


class _NotTaken(ReplicastError):
    """The store failed a prediction before its run began: it is still waiting."""


async def _stop(run: Run, predict: asyncio.Task[Any]) -> None:
    run.cancel_event.set()
    predict.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(predict, return_exceptions=True), _CANCEL_GRACE)



def served_models(registry: Registry, names: tuple[str, ...]) -> list[Model]:
    """The local models of ``registry`` named (all of them if none is)."""
    if not names:
        return list(registry)
    # Routed names are served once resolved (``Worker._follow_routes``).
    unknown = [name for name in names if registry.get(name) is None
               and not registry.routed(name)]
    if unknown:
        raise ConfigError(f"REPLICAST_WORKER_MODELS: no model named {', '.join(unknown)}")
    return [model for name in names if (model := registry.get(name)) is not None]
