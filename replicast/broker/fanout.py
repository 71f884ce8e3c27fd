"""What every broker does in the process itself: hand events to subscriptions, and
keep the progress that is not in the store yet."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable

from replicast.broker.base import Subscription
from replicast.predictions.events import Event, EventKind

_FINISHED_REMEMBERED = 10_000


class LocalSubscription(Subscription):
    """Events in a deque, and at most one waiter: lighter than an asyncio.Queue."""

    def __init__(self) -> None:
        self._events: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._callback: Callable[[Event], None] | None = None

    def listen(self, callback: Callable[[Event], None] | None) -> None:
        self._callback = callback
        # What arrived before (a cancel just after the run started, say) comes first.
        while callback is not None and self._events and self._callback is callback:
            callback(self._events.popleft())

    def deliver(self, event: Event) -> None:
        """Hand over one event (on the event loop)."""
        if self._callback is not None:
            self._callback(event)
            return
        self._events.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> Event | None:
        if not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, timeout)
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._events.popleft()


class Unwritten:
    """Progress events published but not yet covered by a PERSISTED event, per prediction."""

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        # Recently finished predictions: progress published after the end (a model still
        # winding down) is not kept, or it would stay for ever.
        self._finished: collections.OrderedDict[str, None] = collections.OrderedDict()

    def of(self, prediction_id: str) -> list[Event]:
        """The progress of a prediction that the store does not have yet."""
        return list(self._events.get(prediction_id, ()))

    def note(self, event: Event) -> None:
        """Take account of a published event."""
        if event.kind is EventKind.PROGRESS:
            if event.prediction_id not in self._finished:
                self._events.setdefault(event.prediction_id, []).append(event)
        elif event.kind is EventKind.PERSISTED and event.prediction_id in self._events:
            logs, items = event.data
            kept = [e for e in self._events[event.prediction_id]
                    if e.data.logs_offset + len(e.data.logs) > logs
                    or e.data.items_offset + len(e.data.items) > items]
            if kept:
                self._events[event.prediction_id] = kept
            else:
                del self._events[event.prediction_id]
        elif event.kind is EventKind.STATUS:
            self._events.pop(event.prediction_id, None)
            if event.prediction is not None and event.prediction.terminal:
                self._finished[event.prediction_id] = None
                if len(self._finished) > _FINISHED_REMEMBERED:
                    self._finished.popitem(last=False)


def unwritten_progress(history: Iterable[Event], prediction_id: str) -> list[Event]:
    """From a prediction's events in publishing order, the progress not yet in the store."""
    unwritten = Unwritten()
    for event in history:
        unwritten.note(event)
    return unwritten.of(prediction_id)
