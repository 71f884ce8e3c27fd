"""The predictions service: what the API asks of predictions, account by account."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replicast import ids, keyset, logs, times, urls
from replicast.accounts.account import Account
from replicast.broker.base import Broker, Subscription
from replicast.broker.offer import Offer, Validated
from replicast.errors import (
    BrokerError,
    InvalidField,
    InvalidInput,
    ModelError,
    NotFound,
    Throttled,
)
from replicast.files.service import FilesService, read_own_file
from replicast.input_files import NO_LIMITS, FileLimits
from replicast.keyset import Page, Position
from replicast.models.base import Model, OwnFile, OwnFilePath
from replicast.models.file_inputs import named_files
from replicast.predictions import queue
from replicast.predictions.deadlines import Deadlines
from replicast.predictions.events import Event, EventKind
from replicast.predictions.input_limits import InputLimits
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.prediction import CONTEXT_KEY, Prediction
from replicast.predictions.queue import RECENT_RUNS, QueuePlace
from replicast.predictions.status import Status
from replicast.store.predictions import PageQuery, PredictionStore

if TYPE_CHECKING:
    from replicast.webhooks.delivery import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Which predictions a listing shows."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    source: str | None = None


def _position(prediction: Prediction) -> Position:
    return prediction.created_at, prediction.id


class PredictionService:
    """Creates, reads, lists, waits for and cancels predictions."""

    def __init__(self, store: PredictionStore, broker: Broker, lifecycle: Lifecycle,
                 deadlines: Deadlines, page_size: int = 100, max_unfinished: int = 0,
                 files: FilesService | None = None, max_file_bytes: int = 0,
                 file_limits: FileLimits = NO_LIMITS, input_limits: InputLimits | None = None,
                 page_bytes: int = 0, run_slots: Callable[[str], int] | None = None) -> None:
        self.store = store
        self.broker = broker
        self.lifecycle = lifecycle
        self.deadlines = deadlines
        self.page_size = page_size
        self.page_bytes = page_bytes
        """Stored bytes after which a page ends early (``REPLICAST_MAX_PAGE_BYTES``)."""
        self.input_limits = input_limits or InputLimits()
        """How large an input may be kept (``REPLICAST_MAX_INPUT_BYTES`` and kin)."""
        self.max_unfinished = max_unfinished
        """Predictions an account may have starting or processing; 0 for any number."""
        self.files = files
        """Uploaded files, which a prediction handed on at its create may name."""
        self.max_file_bytes = max_file_bytes
        """The largest input file handed on (``REPLICAST_MAX_INPUT_FILE_BYTES``)."""
        self.file_limits = file_limits
        """How many input files a prediction may name, and how large they may be in all."""
        self.run_slots = run_slots or (lambda model: 1)
        """How many predictions of a model run at once, for its queue's estimates."""
        self._background: set[asyncio.Task[None]] = set()
        """Withdrawals and cancels that outlive the request that started them."""

    async def create(
        self,
        account: Account,
        model: Model,
        input: dict[str, Any],
        *,
        base_url: str,
        version: str | None = None,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        cancel_after: timedelta | None = None,
        wait: float | None = None,
        source: str = "api",
        previews: int = 0,
        queue: bool = True,
        context: dict[str, str] | None = None,
        api_prefix: str = urls.API,
    ) -> Prediction:
        """Validate, commit and queue a new prediction.

        With ``wait``, hold on up to that many seconds for it to finish and return
        the latest state. ``source`` is ``web`` for the web pages' predictions, which
        the retention sweep keeps, as Replicate keeps them. ``previews``: how many
        previews its run sends as events (``Prediction.previews``). Without ``queue``
        it is committed but not queued: the caller listens to it first, then ``enqueue``s
        it (one never queued is put back by the worker's check of the queues).
        ``context``: strings for the model's run (Cog's ``current_scope().context``),
        kept with the secrets until it finishes. ``api_prefix``: the API prefix it is
        created under, which its webhooks' and events' URLs name.
        """
        self.input_limits.check(input)
        inputs, unknown = model.validator.validate(input)
        if model.create_check is not None:
            await model.create_check(inputs, base_url, self._own_path(account, base_url))
        await self._check_files(account, model, inputs, base_url)
        created_at = times.now()
        shown_input, secrets = model.split_secrets(input)
        if context:
            secrets = {**(secrets or {}), CONTEXT_KEY: dict(context)}
        prediction = Prediction(
            id=ids.prediction_id(),
            account_id=account.id,
            model=model.full_name,
            version=version or model.prediction_version,
            input=shown_input,
            secrets=secrets,
            status=Status.STARTING,
            created_at=created_at,
            base_url=base_url,
            stream_token=ids.url_token(),
            deadline=None if cancel_after is None else created_at + cancel_after,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            source=source,
            previews=previews,
            api_prefix=api_prefix,
        )
        logs.tag(prediction.id)
        if wait is not None and queue and not model.runner.hands_on \
                and self.broker.consumer_waits(model.full_name):
            offered = await self._offered(model, prediction, wait, (inputs, unknown))
            if offered is not None:
                return offered
        failure = await self._hand_on(account, model, prediction, inputs)
        try:
            await self._insert(prediction)
        except BaseException:
            if prediction.upstream_id is not None:
                await asyncio.shield(model.runner.withdraw(prediction.upstream_id))
            raise
        if failure is not None:
            return await self.lifecycle.fail(prediction, failure) or prediction
        if prediction.deadline is not None:
            self.deadlines.watch(prediction.id, prediction.deadline)
        if not queue:
            return prediction
        if wait is None:
            await self.broker.enqueue(model.full_name, prediction.id)
            return prediction
        try:
            async with self.broker.subscribe(prediction.id) as subscription:
                await self.broker.enqueue(model.full_name, prediction.id)
                return await self._until_terminal(prediction, subscription, wait)
        except BrokerError as exc:
            # It is created: answer as a wait that ran out, and the client polls.
            log.warning("cannot wait for prediction %s: %s", prediction.id, exc)
            await self.broker.enqueue(model.full_name, prediction.id)
            return prediction

    async def _offered(self, model: Model, prediction: Prediction, wait: float,
                       validated: Validated) -> Prediction | None:
        """Offer the new prediction to a consumer of the model waiting in this process,
        which commits it already started (``replicast.broker.offer``), and wait up to
        ``wait`` seconds for its end; None, with nothing committed, if none takes it."""
        offer = Offer(prediction, self._insert, validated)
        offer.outcome.add_done_callback(self._offer_settled)
        offered = False
        try:
            async with self.broker.subscribe(prediction.id) as subscription:
                offered = self.broker.offer(model.full_name, offer)
                if not offered:
                    return None
                # One sleep from the offer to the end: the consumer's commit wakes the
                # create only if it did not commit it (a started prediction ends later).
                ended = await self._until_ended(subscription, wait, unless=offer.outcome)
                if ended is not None:
                    return ended
                # Shielded: a client gone meanwhile leaves the consumer to settle it.
                started = await asyncio.shield(offer.outcome)  # raises what kept it out
                if started is None:
                    return None
                # The wait ran out: as the store has it now.
                return await self.store.get(started.id) or started
        except BrokerError as exc:
            # Committed already, it is answered as a wait that ran out; else queued.
            log.warning("cannot wait for prediction %s: %s", prediction.id, exc)
            return await asyncio.shield(offer.outcome) if offered else None

    def _offer_settled(self, outcome: asyncio.Future[Prediction | None]) -> None:
        """Once an offer's consumer has settled it, whether or not its create still waits
        (its client may be gone): a committed prediction's deadline is watched, and an
        error is looked at."""
        started = None if outcome.cancelled() or outcome.exception() else outcome.result()
        if started is not None and started.deadline is not None:
            self.deadlines.watch(started.id, started.deadline)

    async def enqueue(self, prediction: Prediction) -> None:
        """Queue a prediction created with ``queue=False`` (nothing if it has ended)."""
        if not prediction.terminal:
            await self.broker.enqueue(prediction.model, prediction.id)

    def _own_path(self, account: Account, base_url: str) -> OwnFilePath:
        """Finds on disk the account's uploads that URLs name (``OwnFilePath``)."""

        async def own_path(url: str) -> Path | None:
            if self.files is None:
                return None
            return await self.files.own_file_path(account.id, base_url, url)

        return own_path

    async def _check_files(self, account: Account, model: Model, inputs: dict[str, Any],
                           base_url: str) -> None:
        """Refuse, naming the input, more files than a prediction may name, or files
        uploaded here larger in all than its files may be (their sizes are known; other
        URLs are measured as they are fetched, and fail the prediction then)."""
        named = named_files(inputs, model.file_inputs)
        limits = self.file_limits
        refusal = limits.too_many(len(named))
        if refusal is not None:
            field = f"input.{named[limits.max_files].field}"
            raise InvalidInput.from_fields([InvalidField("too_many_files", field, refusal)])
        if not limits.max_bytes or self.files is None:
            return
        total = 0
        for given in {f.url: f for f in named}.values():
            try:
                size = await self.files.own_file_size(account.id, base_url, given.url)
            except NotFound:
                continue  # the run says so, as for any file it cannot read
            total += size or 0
            refusal = limits.too_large(total)
            if refusal is not None:
                raise InvalidInput.from_fields([InvalidField(
                    "files_too_large", f"input.{given.field}", refusal)])

    async def _hand_on(self, account: Account, model: Model, prediction: Prediction,
                       inputs: dict[str, Any]) -> str | None:
        """Let the model's runner hand the new prediction on before it is committed (a
        routed model's upstream creates it now, so that its refusal is the create's
        answer, raised from here); the error of a prediction that failed already.

        Done before the commit so that no worker can find the prediction before its
        upstream id is kept with it; an account over its limit is refused first, so as
        not to start upstream what would be canceled again.
        """
        if not model.runner.hands_on:
            return None
        if self.max_unfinished:
            unfinished = await self.store.unfinished_count(account.id)
            if unfinished >= self.max_unfinished:
                raise self._over_limit(unfinished)
        async def own_files(url: str) -> OwnFile | None:
            return await read_own_file(self.files, account.id, prediction.base_url, url,
                                       max_bytes=self.max_file_bytes, error=InvalidInput)

        handing = asyncio.ensure_future(model.runner.submit(prediction.id, inputs, own_files))
        try:
            prediction.upstream_id = await asyncio.shield(handing)
        except ModelError as exc:
            return str(exc)
        except asyncio.CancelledError:
            # The request went away: whatever the upstream makes now, nobody follows.
            self._withdraw_when_done(model, handing)
            raise
        return None

    def _withdraw_when_done(self, model: Model, handing: asyncio.Future[str | None]) -> None:
        async def withdraw() -> None:
            with contextlib.suppress(Exception):
                upstream_id = await handing
                if upstream_id is not None:
                    await model.runner.withdraw(upstream_id)

        task = asyncio.create_task(withdraw())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _insert(self, prediction: Prediction, deliveries: Sequence[Delivery] = ()) -> None:
        if not self.max_unfinished:
            await self.store.insert(prediction, deliveries)
            return
        unfinished = await self.store.insert_within(prediction, self.max_unfinished, deliveries)
        if unfinished is not None:
            raise self._over_limit(unfinished)

    def _over_limit(self, unfinished: int) -> Throttled:
        noun = "prediction" if unfinished == 1 else "predictions"
        return Throttled(f"You have {unfinished} {noun} starting or processing; the limit "
                         f"is {self.max_unfinished}. Wait for some to finish.")

    async def get(self, account: Account, prediction_id: str) -> Prediction:
        """The account's prediction with this id; ``NotFound`` otherwise."""
        logs.tag(prediction_id)
        prediction = None
        if ids.is_prediction_id(prediction_id):
            prediction = await self.store.get(prediction_id)
        if prediction is None or prediction.account_id != account.id:
            raise NotFound()
        return prediction

    async def queue_place(self, prediction: Prediction) -> QueuePlace | None:
        """Where the prediction waits in its model's queue; None once it has started.

        Two reads of indexes: those waiting ahead of it, and the model's latest runs.
        """
        if prediction.status is not Status.STARTING:
            return None
        ahead = await self.store.waiting_ahead(prediction)
        runs = await self.store.recent_run_seconds(prediction.model, RECENT_RUNS)
        return queue.place(ahead, runs, self.run_slots(prediction.model), times.now())

    async def list(self, account: Account, selection: ListFilter, *,
                   before: Position | None = None, after: Position | None = None
                   ) -> Page[Prediction]:
        """A page of the account's predictions, newest first: ``page_size`` of them, fewer
        once their stored input, output and logs pass ``page_bytes`` (never none)."""
        query = PageQuery(
            account_id=account.id, limit=self.page_size, max_bytes=self.page_bytes,
            before=before, after=after, created_after=selection.created_after,
            created_before=selection.created_before, source=selection.source,
        )
        rows = await self.store.page(query)
        return keyset.page(rows.predictions, _position, more=rows.more, before=before,
                           after=after)

    async def cancel(self, account: Account, prediction_id: str) -> Prediction:
        """Cancel the account's prediction; a finished one is returned unchanged."""
        prediction = await self.get(account, prediction_id)
        if prediction.terminal:
            return prediction
        return await self.lifecycle.stop(prediction.id, unstarted=Status.CANCELED) or prediction

    async def wait(self, prediction: Prediction, timeout: float) -> Prediction:
        """The prediction once it is terminal, or as it is after ``timeout`` seconds."""
        async with self.broker.subscribe(prediction.id) as subscription:
            # Read after subscribing, so that an end between the two is not missed.
            latest = await self.store.get(prediction.id) or prediction
            return await self._until_terminal(latest, subscription, timeout)

    def abandon(self, account: Account, prediction_id: str) -> None:
        """Cancel in the background a prediction whose client went away while it waited
        (the request that would await the cancel is itself ending)."""
        async def cancel() -> None:
            try:
                await self.cancel(account, prediction_id)
            except Exception as exc:  # the deadline sweep or the run ends it then
                log.warning("cannot cancel abandoned prediction %s: %s", prediction_id, exc)

        task = asyncio.create_task(cancel())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _until_terminal(self, prediction: Prediction, subscription: Subscription,
                              timeout: float) -> Prediction:
        """The prediction once a status event says it has ended, or as the store has it
        after ``timeout`` seconds. Other events (progress, a start) wake nobody."""
        if prediction.terminal:
            return prediction
        ended = await self._until_ended(subscription, timeout)
        # Progress events do not carry state: read it afresh.
        return ended or await self.store.get(prediction.id) or prediction

    async def _until_ended(self, subscription: Subscription, timeout: float,
                           unless: asyncio.Future[Prediction | None] | None = None
                           ) -> Prediction | None:
        """The prediction as the status event that says it has ended carries it; None
        after ``timeout`` seconds, or once ``unless`` (an offer's outcome) is settled
        without a started prediction."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Prediction | None] = loop.create_future()

        def on_event(event: Event) -> None:
            if event.kind is EventKind.STATUS and event.prediction is not None \
                    and event.prediction.terminal and not ended.done():
                ended.set_result(event.prediction)

        def on_settled(outcome: asyncio.Future[Prediction | None]) -> None:
            if not ended.done() and (outcome.cancelled() or outcome.exception() is not None
                                     or outcome.result() is None):
                ended.set_result(None)

        subscription.listen(on_event)
        if unless is not None:
            unless.add_done_callback(on_settled)
        try:
            async with asyncio.timeout(timeout):
                return await ended
        except TimeoutError:
            return None
        finally:
            subscription.listen(None)
            if unless is not None:
                unless.remove_done_callback(on_settled)
