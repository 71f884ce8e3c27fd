"""The worker: takes queued predictions, runs their models, records the outcome.

Each model gets as many consumer tasks as its runner's ``concurrency``. A run ends
in one of four ways: the model returns (succeeded), raises (failed), someone else
finishes the prediction first (a cancel or a deadline; the run is stopped), or it
runs past ``predict_timeout`` (failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from datetime import timedelta
from typing import Any

import orjson

from replicast import times
from replicast.broker.base import Broker, Subscription
from replicast.config import Settings
from replicast.errors import BrokerError, ConfigError, InvalidInput, ModelError, RequestError
from replicast.files.service import FilesService
from replicast.inputs import InputFetcher
from replicast.logs import prediction_context
from replicast.models.base import Model
from replicast.models.registry import Registry
from replicast.outputs.base import OutputStore
from replicast.predictions.events import Event, EventKind
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.base import Store
from replicast.worker.leases import Leases, new_worker_id
from replicast.worker.recovery import interrupted_note, recover
from replicast.worker.run import Run

log = logging.getLogger(__name__)

# How long a runner that ignores cancellation may keep its slot after a cancel.
_CANCEL_GRACE = 5.0
# How often a worker on a shared broker puts back what the broker lost, and how old a
# waiting prediction must be to count as lost (younger ones may be on their way).
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
        self.worker_id = new_worker_id()
        self.models = served_models(registry, settings.worker_models)
        self.leases = Leases(store, lifecycle, broker, worker_id=self.worker_id,
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
        if self.broker.shared:
            self._restorer = asyncio.create_task(self._restore_forever(), name="restore")
        for model in self.models:
            for slot in range(model.runner.concurrency):
                self._consumers.append(asyncio.create_task(
                    self._consume(model), name=f"worker-{model.full_name}-{slot}"
                ))
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
            self._consumers.extend(asyncio.create_task(
                self._consume(model), name=f"worker-{model.full_name}-{slot}"
            ) for slot in range(model.runner.concurrency))

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
                    names += [n for n in await self.store.waiting_models(_RESTORE_BATCH)
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
        waiting = await self.store.waiting([name], times.now(), _RESTORE_BATCH)
        for prediction_id, _ in waiting:
            prediction = await self.store.get_prediction(prediction_id)
            if prediction is not None and prediction.status is Status.STARTING:
                await self.lifecycle.fail(
                    prediction, f"The model {name} is no longer served by its upstream")

    async def _restore_forever(self) -> None:
        while True:
            await asyncio.sleep(RESTORE_SECONDS)
            names = [*(m.full_name for m in self.models), *self._routed]
            try:
                waiting = await self.store.waiting(names, times.now() - _RESTORE_AFTER,
                                                   _RESTORE_BATCH)
                by_model: dict[str, list[str]] = {}
                for prediction_id, model in waiting:
                    by_model.setdefault(model, []).append(prediction_id)
                for model, prediction_ids in by_model.items():
                    restored = await self.broker.restore(model, prediction_ids)
                    if restored:
                        log.warning("queued %d waiting prediction(s) of %s again: the broker "
                                    "had lost them", restored, model)
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

    async def _consume(self, model: Model) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            self._idle.add(task)
            try:
                await model.runner.wait_ready()
                prediction_id = await self.broker.dequeue(model.full_name)
            finally:
                self._idle.discard(task)
            try:
                # A routed model's schema may have been fetched again since: use the latest.
                await self._execute(self._routed.get(model.full_name, model), prediction_id)
            except asyncio.CancelledError:
                raise
            except BrokerError as exc:
                # Not started: it is still waiting in the store, and goes back to the queue.
                log.warning("could not take prediction %s: %s", prediction_id, exc)
                await self.broker.enqueue(model.full_name, prediction_id)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("the worker failed while handling prediction %s", prediction_id)

    async def _execute(self, model: Model, prediction_id: str) -> None:
        with prediction_context(prediction_id):
            await self._execute_tagged(model, prediction_id)

    async def _execute_tagged(self, model: Model, prediction_id: str) -> None:
        try:
            model = await self._at_its_version(model, prediction_id)
        except RequestError as exc:
            waiting = await self.store.get_prediction(prediction_id)
            if waiting is not None and waiting.status is Status.STARTING:
                await self.lifecycle.fail(waiting, exc.detail)
            return
        async with self.broker.subscribe(prediction_id) as subscription:
            started = await self.lifecycle.start(prediction_id, self.worker_id,
                                                 self.settings.lease_seconds)
            if started is None:
                await self._not_started(prediction_id)
                return
            unknown: list[str] = []
            if started.upstream_id is not None:
                # Handed on already: the run follows it there, and the input it was
                # validated with at its create is the upstream's business now.
                inputs = started.run_input()
            else:
                try:
                    inputs, unknown = model.validator.validate(started.run_input())
                except InvalidInput as exc:
                    await self.lifecycle.fail(started, f"Invalid input: {exc.detail}")
                    return
            run = Run(started, self.lifecycle, self.outputs, self.fetcher, files=self.files)
            for name in unknown:
                run.log(f"Ignoring input {name!r}: {model.full_name} has no such input\n")
            await self._run(model, run, inputs, subscription)

    async def _at_its_version(self, model: Model, prediction_id: str) -> Model:
        """The model to run the prediction with: a routed one not handed on yet may have
        been made at another of its upstream's versions, to be created by that one.
        Looked up before the run starts, so that no event of the run can be missed."""
        if not self.registry.routed(model.full_name):
            return model
        waiting = await self.store.get_prediction(prediction_id)
        if waiting is None or waiting.upstream_id is not None \
                or waiting.version == model.prediction_version:
            return model
        return await self.registry.lookup_version(f"{model.full_name}:{waiting.version}")

    async def _not_started(self, prediction_id: str) -> None:
        """A queued prediction that could not start: already finished or taken, or past
        its deadline (then it is aborted here)."""
        prediction = await self.store.get_prediction(prediction_id)
        if prediction is not None and prediction.status is Status.STARTING \
                and prediction.deadline is not None and times.now() >= prediction.deadline:
            await self.lifecycle.abort(prediction)

    async def _run(self, model: Model, run: Run, inputs: dict[str, Any],
                   subscription: Subscription) -> None:
        started = run.prediction
        predict = asyncio.create_task(model.runner.predict(run, inputs))
        cancel_note: str | None = None  # set when asked to cancel
        finished_elsewhere = False

        def on_event(event: Event) -> None:
            nonlocal cancel_note, finished_elsewhere
            if event.kind is EventKind.NUDGE:
                run.nudge()
                return
            if event.kind is EventKind.CANCEL:
                cancel_note = str(event.data or "")
            elif event.kind is EventKind.STATUS and event.prediction is not None \
                    and event.prediction.terminal:
                finished_elsewhere = True  # canceled by another hand, which did not wait
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
            if requeued is not None and self.broker.shared:
                await self.broker.enqueue(started.model, started.id)  # for another worker
            raise
        subscription.listen(None)
        if finished_elsewhere:
            await run.finish()
        elif cancel_note is not None:
            # Finish it at once, with everything it produced, then let the model wind down.
            logs, output = await run.finish(), run.output()
            await self.lifecycle.cancel(started, logs=logs + cancel_note, output=output,
                                        by_run=True)
        elif predict.done():
            await self._record_outcome(run, predict, await run.finish())
            return
        else:
            await _stop(run, predict)
            await self.lifecycle.fail(
                started,
                f"Prediction timed out after running for {self.settings.predict_timeout:g} seconds",
                logs=await run.finish(), metrics=run.metrics, output=run.output(), by_run=True,
            )
        await _stop(run, predict)

    async def _record_outcome(self, run: Run, predict: asyncio.Task[Any], logs: str) -> None:
        started = run.prediction
        if predict.cancelled():  # the model canceled itself
            await self.lifecycle.cancel(started, logs=logs, output=run.output(), by_run=True)
            return
        error = predict.exception()
        if error is None:
            output = predict.result()
            if output is None and run.items:
                output = list(run.items)
            try:
                orjson.dumps(output)
            except TypeError as exc:
                await self.lifecycle.fail(
                    started, f"The model returned output that is not JSON: {exc}",
                    logs=logs, metrics=run.metrics, by_run=True,
                )
                return
            await self.lifecycle.succeed(started, output, logs=logs, metrics=run.metrics)
        elif isinstance(error, ModelError):
            await self.lifecycle.fail(started, str(error), logs=logs, metrics=run.metrics,
                                      output=run.output(), by_run=True)
        else:
            # Not by_run: a runner that broke may have left its upstream work running.
            log.error("%s raised %r", started.model, error, exc_info=error)
            trace = "".join(traceback.format_exception(error))
            await self.lifecycle.fail(
                started, f"{type(error).__name__}: {error}", logs=logs + trace,
                metrics=run.metrics, output=run.output(),
            )


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
