"""Server-Sent Events, read from a prediction's ``urls.stream``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event: its name (``output``, ``logs``, ``error``, ``done``), data and id."""

    name: str
    data: str
    id: str | None = None


def parse_events(chunks: Iterable[str]) -> Iterator[StreamEvent]:
    """The events in a stream's text, however it is cut into chunks.

    Lines end at ``\\n`` only: log text may hold a lone ``\\r`` (a progress bar
    redrawing itself), which must stay inside its event.
    """
    name, event_id, pending = "message", None, ""
    data: list[str] = []
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split("\n")
        for raw in lines:
            line = raw.removesuffix("\r")
            if not line:
                if data:
                    yield StreamEvent(name, "\n".join(data), event_id)
                name, data = "message", []
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value
