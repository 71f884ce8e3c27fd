"""Which deliveries a prediction's changes create, and what each one carries.

``start`` and ``completed`` are created in the same transaction as the status change
they report, so a crash can never lose them. ``output`` and ``logs`` are throttled:
at most one every ``THROTTLE_SECONDS`` per prediction, the last change within a
window sent at its end, and none after the prediction finished (``completed``
carries the final state).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from replicast import ids, times
from replicast.outputs.signing import OutputLinks
from replicast.predictions import wire
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.outbox import OutboxStore
from replicast.webhooks.delivery import ALL_EVENTS, Delivery, WebhookEvent


def wants(prediction: Prediction, event: WebhookEvent) -> bool:
    """Whether the prediction asked for webhooks of this event."""
    if prediction.webhook is None:
        return False
    wanted = prediction.webhook_events_filter
    return event.value in (ALL_EVENTS if wanted is None else wanted)


def status_event(prediction: Prediction) -> WebhookEvent | None:
    """The event a status change is: ``start`` into processing, ``completed`` at the end."""
    if prediction.status is Status.PROCESSING:
        return WebhookEvent.START
    if prediction.terminal:
        return WebhookEvent.COMPLETED
    return None


def new_delivery(prediction: Prediction, event: WebhookEvent, *, now: datetime,
                 retry_window: timedelta, links: OutputLinks | None) -> Delivery:
    """The delivery of ``event`` for the prediction as it is now (the body is its JSON).

    Only ``completed`` is retried: intermediate events are sent once, as Replicate does.
    """
    assert prediction.webhook is not None
    return Delivery(
        id=f"msg_{ids.ordered_id(26)}",
        prediction_id=prediction.id,
        account_id=prediction.account_id,
        event=event,
        url=prediction.webhook,
        payload=orjson.dumps(wire.to_json(prediction, links=links)),
        created_at=now,
        next_attempt_at=now,
        retry_until=now + retry_window if event is WebhookEvent.COMPLETED else None,
    )


@dataclass(slots=True)
class _Throttle:
    last_sent: float = float("-inf")
    timer: asyncio.TimerHandle | None = None
    latest: Prediction | None = None
    event: WebhookEvent | None = None


class WebhookEmitter(LifecycleListener):
    """Turns a prediction's changes into deliveries in the outbox."""

    THROTTLE_SECONDS = 0.5

    def __init__(self, store: OutboxStore, *, retry_window: timedelta,
                 on_created: Callable[[], None], links: OutputLinks | None = None,
                 clock: Callable[[], datetime] = times.now) -> None:
        self.store = store
        self.links = links
        self.retry_window = retry_window
        self.on_created = on_created
        self.clock = clock
        self._throttles: dict[str, _Throttle] = {}
        self._inserts: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Stop the throttle timers and finish the writes under way."""
        for throttle in self._throttles.values():
            if throttle.timer is not None:
                throttle.timer.cancel()
        self._throttles.clear()
        await asyncio.gather(*self._inserts, return_exceptions=True)

    def delivers(self, prediction: Prediction) -> bool:
        """Only to a prediction's webhook, which is fixed at its create."""
        return prediction.webhook is not None

    def deliveries(self, prediction: Prediction) -> list[Delivery]:
        """The deliveries to commit with a status change (runs inside the transaction)."""
        event = status_event(prediction)
        if event is None or not wants(prediction, event):
            return []
        return [new_delivery(prediction, event, now=self.clock(),
                             retry_window=self.retry_window, links=self.links)]

    def status_changed(self, prediction: Prediction) -> None:
        """After a status change was committed."""
        if prediction.terminal or prediction.status is Status.STARTING:
            throttle = self._throttles.pop(prediction.id, None)
            if throttle is not None and throttle.timer is not None:
                throttle.timer.cancel()
        if prediction.webhook is not None:
            self.on_created()

    def progressed(self, prediction: Prediction, *, output: bool, logs: bool) -> None:
        """After new output or logs of a running prediction were written."""
        event = next((e for e, changed in ((WebhookEvent.OUTPUT, output),
                                           (WebhookEvent.LOGS, logs))
                      if changed and wants(prediction, e)), None)
        if event is None:
            return
        throttle = self._throttles.setdefault(prediction.id, _Throttle())
        throttle.latest, throttle.event = prediction, event
        if throttle.timer is not None:
            return  # the change goes out when the window ends
        loop = asyncio.get_running_loop()
        wait = throttle.last_sent + self.THROTTLE_SECONDS - loop.time()
        if wait <= 0:
            self._send(throttle)
        else:
            throttle.timer = loop.call_later(wait, self._send, throttle)

    def _send(self, throttle: _Throttle) -> None:
        throttle.timer = None
        if throttle.latest is None or throttle.event is None:
            return
        throttle.last_sent = asyncio.get_running_loop().time()
        delivery = new_delivery(throttle.latest, throttle.event, now=self.clock(),
                                retry_window=self.retry_window, links=self.links)
        task = asyncio.create_task(self._insert(delivery))
        self._inserts.add(task)
        task.add_done_callback(self._inserts.discard)

    async def _insert(self, delivery: Delivery) -> None:
        # Only while the prediction runs: once finished, ``completed`` says it all.
        if await self.store.insert([delivery], while_running=delivery.prediction_id):
            self.on_created()
