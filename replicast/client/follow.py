"""Following a prediction until it finishes: its event stream, or polling.

The stream (``urls.stream``) gives logs and output the moment they are produced; if
it cannot be opened or breaks off, ``GET`` is polled instead, picking up after what
the stream already showed. The stream says nothing of a waiting prediction's place in
its queue (``queue``, a Replicast extension): while it has one, ``GET`` is polled for
it, and the stream is opened once the prediction has left the queue (a new stream
starts from the beginning, so nothing is missed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from replicast.client.connection import Connection
from replicast.client.display import Display
from replicast.client.progress import LogLines, parse_progress
from replicast.client.saving import is_output_file
from replicast.predictions.queue import describe_json

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
POLL_FIRST, POLL_MOST = 0.2, 2.0
QUEUE_POLL = 1.0
"""Seconds between reads of a waiting prediction's place in its queue."""


def writes_text(output_schema: Mapping[str, Any]) -> bool:
    """Whether a model's output is text (a string, or strings one by one)."""
    schema = output_schema
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema = schema["items"]
    return schema.get("type") == "string" and schema.get("format") != "uri"


def concatenates(output_schema: Mapping[str, Any]) -> bool:
    """Whether a list output reads as one text (an iterator of tokens), not as lines."""
    return (output_schema.get("x-cog-array-display") == "concatenate"
            or output_schema.get("x-cog-array-type") == "iterator")


class Follower:
    """Shows a prediction's progress, logs and text output until it finishes."""

    def __init__(self, connection: Connection, display: Display, prediction: Mapping[str, Any],
                 *, text: bool, concatenate: bool) -> None:
        self.connection = connection
        self.display = display
        self.prediction = prediction
        self.id: str = prediction["id"]
        self.status: str = prediction["status"]
        self.text = text
        self.separator = "" if concatenate else "\n"
        self.lines = LogLines()
        self.logs_seen = 0
        self.items_seen = 0
        self.streamed = 0
        """How many output items, from the first, were written as text."""
        self._last_event_id: str | None = None
        self._place: int | None = None
        """The queue position shown last."""

    def follow(self) -> dict[str, Any]:
        """The prediction once it has finished."""
        waited = self._wait_in_queue()
        if waited.get("status") in TERMINAL:  # canceled while it waited, say
            self._update(waited)
            return waited
        url = (self.prediction.get("urls") or {}).get("stream")
        if url and self.status not in TERMINAL:
            try:
                if self._stream(url):
                    final = self.connection.prediction(self.id)
                    if final.get("status") in TERMINAL:
                        self._update(final)
                        return final
            except httpx.HTTPError as exc:
                self.display.note(f"The event stream broke off ({type(exc).__name__}); "
                                  "polling instead")
        return self._poll()

    def _wait_in_queue(self) -> dict[str, Any]:
        """Show the prediction's place in its queue while it has one; the prediction
        as last read."""
        prediction = dict(self.prediction)
        while self._show_place(prediction):
            time.sleep(QUEUE_POLL)
            prediction = self.connection.prediction(self.id)
        status = prediction.get("status")
        if isinstance(status, str) and status not in TERMINAL:
            self._set_status(status)
        return prediction

    def _show_place(self, prediction: Mapping[str, Any]) -> bool:
        """Show the place of a waiting prediction when it moves; whether it has one."""
        if prediction.get("status") != "starting":
            return False
        words = describe_json(prediction.get("queue"), datetime.now(UTC))
        if words is None:
            return False
        position = prediction["queue"]["position"]
        if position != self._place:
            self._place = position
            self.display.status(words)
        return True

    def _stream(self, url: str) -> bool:
        """Follow the event stream; True once it said ``done``."""
        with self.connection.events(url, self._last_event_id) as events:
            for event in events:
                if event.id:
                    self._last_event_id = event.id
                if event.name == "logs":
                    self._set_status("processing")
                    self._logs(event.data)
                elif event.name == "output":
                    self._set_status("processing")
                    self._item(event.data)
                elif event.name == "done":
                    return True
        return False

    def _poll(self) -> dict[str, Any]:
        delay = POLL_FIRST
        while True:
            prediction = self.connection.prediction(self.id)
            self._update(prediction)
            if prediction.get("status") in TERMINAL:
                return prediction
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MOST)

    def _update(self, prediction: Mapping[str, Any]) -> None:
        """Show what a polled prediction has that was not shown yet."""
        status = prediction.get("status")
        if isinstance(status, str) and status not in TERMINAL:
            self._set_status(status)
        logs = prediction.get("logs") or ""
        if len(logs) > self.logs_seen:
            self._logs(logs[self.logs_seen:])
        output = prediction.get("output")
        if isinstance(output, list) and status not in TERMINAL:
            for item in output[self.items_seen:]:
                self._item(item)

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.display.status(f"Status: {status}")

    def _logs(self, text: str) -> None:
        self.logs_seen += len(text)
        for line in self.lines.feed(text):
            progress = parse_progress(line)
            if progress is not None:
                self.display.progress(progress)
            elif line.strip():
                self.display.log(line)

    def _item(self, item: Any) -> None:
        index = self.items_seen
        self.items_seen += 1
        if (self.text and isinstance(item, str) and not is_output_file(item)
                and index == self.streamed):
            self.display.text(item + self.separator)
            self.streamed += 1

    def finish(self) -> None:
        """Show the end of the logs, if their last line had no newline."""
        for line in self.lines.flush():
            progress = parse_progress(line)
            if progress is None:
                self.display.log(line)
