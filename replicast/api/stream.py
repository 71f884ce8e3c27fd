"""A prediction's Server-Sent Events stream, in Replicate's event names.

``output`` carries each output item (text as is, anything else as JSON), ``logs``
each piece of log text, ``error`` a failure's message, and ``done`` ends the stream
(``{}``, or ``{"reason": ...}`` when it did not succeed); line ends in text arrive as
``\n`` (``api.sse`` says why). Every event has an id
naming how much output and log text the client has after it, so a client that
reconnects with ``Last-Event-ID`` resumes exactly where it left off, and a stream
opened after the end replays everything.

The URL holds a secret token instead of the prediction id and needs no API token
(the npm client sends none), so it reveals nothing to those who do not have it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from replicast.api.sse import encode, json_data
from replicast.errors import NotFound
from replicast.predictions.events import EventKind, Progress
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.state import AppState, app_state

KEEPALIVE_SECONDS = 15.0
_EVENT_ID = re.compile(r"([0-9]{1,12}):([0-9]{1,15})(?::end)?$")
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no",
           "Access-Control-Allow-Origin": "*"}


@dataclass(slots=True)
class Position:
    """How many output items and log characters the client has."""

    items: int = 0
    logs: int = 0
    final: bool = False

    @property
    def event_id(self) -> str:
        return f"{self.items}:{self.logs}"

    @classmethod
    def parse(cls, value: str | None) -> Position:
        """The position in a ``Last-Event-ID``; the start if it is not one of ours."""
        match = _EVENT_ID.match(value or "")
        return cls(int(match[1]), int(match[2])) if match else cls()


def _text(item: Any) -> str:
    return item if isinstance(item, str) else json_data(item)


def _logs(position: Position, offset: int, text: str) -> Iterator[bytes]:
    fresh = text[max(0, position.logs - offset):] if offset + len(text) > position.logs else ""
    if fresh:
        position.logs = offset + len(text)
        yield encode("logs", fresh, position.event_id)


def _items(position: Position, offset: int, items: Any,
           sign: Callable[[Any], Any]) -> Iterator[bytes]:
    for index, item in enumerate(items, start=offset):
        if index >= position.items:
            position.items = index + 1
            yield encode("output", _text(sign(item)), position.event_id)


def _ending(position: Position, prediction: Prediction,
            sign: Callable[[Any], Any]) -> Iterator[bytes]:
    """What the stream sends once the prediction has finished, then ``done``."""
    yield from _logs(position, 0, prediction.logs)
    output = prediction.output
    if isinstance(output, list):
        yield from _items(position, 0, output, sign)
    elif output is not None:
        yield from _items(position, 0, [output], sign)
    end = f"{position.event_id}:end"
    if prediction.status is Status.FAILED:
        yield encode("error", json_data({"detail": prediction.error or "failed"}), end)
    reason = {Status.SUCCEEDED: None, Status.FAILED: "error"}.get(prediction.status,
                                                                  prediction.status.value)
    yield encode("done", "{}" if reason is None else json_data({"reason": reason}), end)
    position.final = True


async def _events(request: Request, prediction_id: str, position: Position) -> AsyncIterator[bytes]:
    state = app_state(request)
    task = asyncio.current_task()
    assert task is not None
    state.streams.add(task)
    try:
        async for frame in _frames(state, prediction_id, position):
            yield frame
    finally:
        state.streams.discard(task)


async def _frames(state: AppState, prediction_id: str,
                  position: Position) -> AsyncIterator[bytes]:
    async with state.predictions.broker.subscribe(prediction_id, replay=True) as subscription:
        current = await state.store.predictions.get(prediction_id)
        if current is None:
            return
        base_url = current.base_url

        def sign(item: Any) -> Any:
            return state.links.sign(item, base_url, prediction_id)

        if current.terminal:
            for frame in _ending(position, current, sign):
                yield frame
            return
        for frame in _logs(position, 0, current.logs):
            yield frame
        if isinstance(current.output, list):
            for frame in _items(position, 0, current.output, sign):
                yield frame
        while not position.final:
            event = await subscription.next(KEEPALIVE_SECONDS)
            if event is None:
                yield b": keep-alive\n\n"
            elif event.kind is EventKind.PROGRESS and isinstance(event.data, Progress):
                for frame in _logs(position, event.data.logs_offset, event.data.logs):
                    yield frame
                for frame in _items(position, event.data.items_offset, event.data.items,
                                    sign):
                    yield frame
            elif event.kind is EventKind.STATUS and event.prediction is not None \
                    and event.prediction.terminal:
                for frame in _ending(position, event.prediction, sign):
                    yield frame


async def stream(request: Request) -> Response:
    """``GET /v1/streams/{token}``."""
    prediction = await app_state(request).store.predictions.get_by_stream_token(
        request.path_params["token"]
    )
    if prediction is None:
        raise NotFound()
    position = Position.parse(request.headers.get("last-event-id"))
    return StreamingResponse(_events(request, prediction.id, position),
                             media_type="text/event-stream", headers=HEADERS)
