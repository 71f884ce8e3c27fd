"""The worker: takes queued predictions, runs their models, records the outcome.

Each model has ``concurrency`` slots (``slots``; shared by models whose runners share a
pool, as one pipeline serving several models) and that many consumer tasks, plus
``SLOW_FETCHES`` more: a prediction's input files are fetched before it takes a slot,
so up to that many predictions whose downloads are slow can go on with them while
others run. Consumers take nothing while their model's runner is not ready, and stop
waiting for its queue when it pauses (an unhealthy predictor), so that its predictions
stay queued. A prediction taken off a queue is started here (or sent back to the queue
if the store cannot start it), then its run is seen through by ``supervisor``. Routed
models are served as they are resolved (``routed``); what the broker lost is put back
every few seconds (``recovery.restore_forever``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from replicast import times
from replicast.broker.base import Broker, Subscription
from replicast.broker.offer import Offer, Validated
from replicast.config import Settings
from replicast.eager import eager
from replicast.errors import (
    BrokerError,
    ConfigError,
    InvalidInput,
    ReplicastError,
    RequestError,
    StoreError,
    StoreUnavailable,
    Unavailable,
)
from replicast.files.service import FilesService
from replicast.input_fetch import InputFetcher
from replicast.input_files import FileLimits
from replicast.logs import prediction_context
from replicast.models.base import Model
from replicast.models.registry import Registry
from replicast.outputs.base import OutputStore
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.base import Store
from replicast.worker import outcome
from replicast.worker.leases import Leases, new_worker_id
from replicast.worker.pools import Pool, dequeue_unless_paused, pools
from replicast.worker.recovery import recover, restore_forever
from replicast.worker.routed import RoutedModels
from replicast.worker.run import Running
from replicast.worker.slots import Claim, Slots
from replicast.worker.supervisor import RunSupervisor

if TYPE_CHECKING:
    from replicast.webhooks.delivery import Delivery

log = logging.getLogger(__name__)
T = TypeVar("T")

SLOW_FETCHES = 4
"""Predictions of one model whose input files may go on downloading, each past
``supervisor.FETCH_PATIENCE``, while as many others as the model's concurrency are
taken and run."""


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
        self.supervisor = RunSupervisor(store, broker, lifecycle, self.leases,
                                        predict_timeout=settings.predict_timeout,
                                        max_attempts=settings.max_attempts)
        self.routed = RoutedModels(registry, store, lifecycle, wanted=settings.worker_models,
                                   on_first=self._serve_routed)
        self._consumers: list[asyncio.Task[None]] = []
        self._idle: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Set up the models, put back interrupted work, and start consuming."""
        for model in self.models:
            await model.runner.setup()
        self.registry.on_resolved(self.routed.serve)
        if not self.store.shared:
            # This process owns the store alone: whatever is unfinished was its own.
            requeued = await recover(self.store, self.lifecycle, self.registry, self.broker,
                                     self.settings.max_attempts, later=self.routed.awaited.add)
            if requeued:
                log.info("resumed %d unfinished prediction(s)", requeued)
        await self.leases.start()
        self._background.append(asyncio.create_task(
            restore_forever(self.store, self.broker, self._served_names), name="restore"))
        for pool in pools(self.models):
            self._start_consumers(pool)
        if self.registry.resolver is not None:
            self._background.append(asyncio.create_task(self.routed.follow(), name="routes"))
        log.info("worker %s serves %s", self.worker_id,
                 ", ".join(m.full_name for m in self.models) or "no model")

    def _served_names(self) -> list[str]:
        return [*(m.full_name for m in self.models), *self.routed.served]

    def _serve_routed(self, model: Model) -> None:
        """A routed model served for the first time: its queue gets consumers."""
        self.leases.models = tuple(self._served_names())  # reported with the next heartbeat
        self._start_consumers(Pool({model.full_name: model}))

    def _start_consumers(self, pool: Pool) -> None:
        slots = Slots(pool.concurrency)
        self._consumers.extend(asyncio.create_task(
            self._consume(pool, slots), name=f"worker-{pool.label}-{number}"
        ) for number in range(pool.concurrency + SLOW_FETCHES))

    async def stop(self, grace: float) -> None:
        """Stop taking work; give running predictions ``grace`` seconds, then stop them.

        A prediction stopped here goes back to the queue and runs again at the
        next start.
        """
        self._stopping = True
        self.routed.stop()
        for background in self._background:
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
        while not self._stopping:
            self._idle.add(task)
            try:
                for waiting in pool.models.values():
                    await waiting.runner.wait_ready()
                claim = await slots.claim()
                try:
                    taken = await dequeue_unless_paused(self.broker, pool)
                except BaseException:
                    claim.release()
                    raise
            finally:
                self._idle.discard(task)
            if taken is None:  # a model paused: its predictions wait in the queue meanwhile
                claim.release()
                continue
            name, item = taken
            model = pool.models[name]
            try:
                await self._execute(self.routed.latest(model), item, claim)
            except asyncio.CancelledError:
                raise
            except (BrokerError, _NotTaken) as exc:
                # Not started: it is still waiting in the store, and goes back to the queue.
                assert isinstance(item, str)  # (an offer's create has its error)
                if not isinstance(exc.__cause__, StoreUnavailable):  # logged by the store
                    log.warning("could not take prediction %s: %s", item, exc)
                await self.broker.enqueue(model.full_name, item)
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("the worker failed while handling prediction %s",
                              item if isinstance(item, str) else item.prediction.id)
            finally:
                claim.release()

    async def _execute(self, model: Model, taken: str | Offer, claim: Claim) -> None:
        with prediction_context(taken if isinstance(taken, str) else taken.prediction.id):
            await self._execute_tagged(model, taken, claim)

    async def _execute_tagged(self, model: Model, taken: str | Offer, claim: Claim) -> None:
        if isinstance(taken, str):
            prediction_id = taken
            try:
                model = await self.routed.at_its_version(model, prediction_id)
            except RequestError as exc:
                await self._not_taken(self._fail_waiting(prediction_id, exc.detail))
                return
            except StoreError as exc:
                raise _NotTaken(exc) from exc
        else:
            prediction_id = taken.prediction.id  # made at the model's version, just now
        async with self.broker.subscribe(prediction_id) as subscription:
            if isinstance(taken, str):
                started = await self._not_taken(self.lifecycle.start(
                    prediction_id, self.worker_id, self.settings.lease_seconds))
                if started is None:
                    await self._not_taken(self._not_started(prediction_id))
                    return
            else:
                started = await self._take_offer(taken)
                if started is None:
                    return
            self.leases.hold(started)
            try:
                await self._begin(model, started, subscription, claim,
                                  None if isinstance(taken, str) else taken.validated)
            finally:
                self.leases.release(started)

    async def _begin(self, model: Model, started: Prediction, subscription: Subscription,
                     claim: Claim, validated: Validated | None
                     ) -> None:
        """Run ``started``, its input checked against the model (``validated``: as its
        create checked it a moment ago, for an offered prediction)."""
        run = Running(started, self.lifecycle, self.outputs, self.fetcher, files=self.files,
                  file_limits=self.file_limits)
        unknown: list[str] = []
        if started.upstream_id is not None:
            # Handed on already: the run follows it there, and the input it was
            # validated with at its create is the upstream's business now.
            inputs = started.run_input()
        elif validated is not None:
            inputs, unknown = validated
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
        await self.supervisor.run(model, run, inputs, subscription, claim)

    async def _take_offer(self, offer: Offer) -> Prediction | None:
        """Commit an offered prediction started by this worker; None if that failed (its
        create raises the error).

        A stop does not cut the commit short, which a thread or the database may finish
        anyway: its create learns how it went (committed, it is this worker's claim, which
        the recovery of a stopped worker's predictions sees to)."""
        committed: list[Prediction] = []

        async def insert(started: Prediction, deliveries: Sequence[Delivery]) -> None:
            await offer.insert(started, deliveries)
            committed.append(started)

        # Most commits never wait (SQLite's inline connection): done before the loop turns.
        begin = eager(self.lifecycle.begin(
            offer.prediction, self.worker_id, self.settings.lease_seconds, insert))
        try:
            started = begin.result() if begin.done() else await asyncio.shield(begin)
        except asyncio.CancelledError:
            begin.add_done_callback(lambda _: _settle(offer, committed, begin))
            raise
        except Exception as exc:
            _settle(offer, committed, begin)
            if committed:  # announcing it failed: it is started, as after a failed start
                raise
            log.debug("offered prediction %s not committed: %s", offer.prediction.id, exc)
            return None
        offer.accept(started)
        return started

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

    async def _not_started(self, prediction_id: str) -> None:
        """A queued prediction that could not start: already finished or taken, or past
        its deadline (then it is aborted here)."""
        prediction = await self.store.predictions.get(prediction_id)
        if prediction is not None and prediction.status is Status.STARTING \
                and prediction.deadline is not None and times.now() >= prediction.deadline:
            await self.lifecycle.abort(prediction)


def _settle(offer: Offer, committed: list[Prediction], begin: asyncio.Future[Prediction]
            ) -> None:
    """Tell an offer's create how its commit went, once ``begin`` is over (it raised, or
    was canceled with the loop, when nothing was committed)."""
    if committed:
        offer.accept(committed[0])
    else:
        error = None if begin.cancelled() else begin.exception()
        offer.fail(error or Unavailable("The server is stopping; try again on another"))


class _NotTaken(ReplicastError):
    """The store failed a prediction before its run began: it is still waiting."""


def served_models(registry: Registry, names: tuple[str, ...]) -> list[Model]:
    """The local models of ``registry`` named (all of them if none is)."""
    if not names:
        return list(registry)
    # Routed names are served once resolved (``RoutedModels.follow``).
    unknown = [name for name in names if registry.get(name) is None
               and not registry.routed(name)]
    if unknown:
        raise ConfigError(f"REPLICAST_WORKER_MODELS: no model named {', '.join(unknown)}")
    return [model for name in names if (model := registry.get(name)) is not None]
