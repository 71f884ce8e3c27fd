"""Time stamps at the seams of a synchronous prediction, for ``bench.segments``.

``bench.segments`` copies this file into a folder of its own as ``sitecustomize.py`` and
puts that folder first on the measured server's ``PYTHONPATH``, so that Python runs it
before anything else in the server and in its predictor processes (which inherit the
path): it wraps a few functions of the ``replicast`` package being measured with ones
that note a tag and ``time.perf_counter_ns()`` (the same clock in every process), and
writes what it noted to ``$BENCH_SEGMENTS_OUT.<pid>`` at exit. Nothing in the package
knows of it; each note costs about a microsecond.

It is a copy, not an import, because the server runs another checkout's code: only the
names wrapped here need to exist there.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import os
import sys
import time
from collections.abc import Callable
from typing import Any

_OUT = os.environ.get("BENCH_SEGMENTS_OUT")
_notes: list[tuple[str, int]] = []
_clock = time.perf_counter_ns


def note(tag: str) -> None:
    _notes.append((tag, _clock()))


def _write() -> None:
    if _OUT and _notes:
        with open(f"{_OUT}.{os.getpid()}", "w") as file:
            file.writelines(f"{tag} {at}\n" for tag, at in _notes)


def _wrap(module: str, name: str, enter: str | None = None, leave: str | None = None,
          when: Callable[[Any, tuple[Any, ...]], bool] | None = None) -> None:
    """Wrap ``module``'s ``name`` (``Class.method`` or a function): note ``enter`` as it is
    called and ``leave`` as it returns (for a result ``when`` accepts, given the args)."""
    owner: Any = importlib.import_module(module)
    *path, attribute = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = inspect.getattr_static(owner, attribute)
    function = original.__func__ if isinstance(original, staticmethod) else original

    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if enter:
                note(enter)
            result = await function(*args, **kwargs)
            if leave and (when is None or when(result, args)):
                note(leave)
            return result
    else:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if enter:
                note(enter)
            result = function(*args, **kwargs)
            if leave and (when is None or when(result, args)):
                note(leave)
            return result

    setattr(owner, attribute, staticmethod(wrapper) if isinstance(original, staticmethod)
            else wrapper)


def _done_among(pieces: Any, _: tuple[Any, ...]) -> bool:
    return any(isinstance(p, dict) and p.get("type") == "done" for p in pieces)


def _predict_command(command: Any, _: tuple[Any, ...]) -> bool:
    return isinstance(command, dict) and command.get("type") == "predict"


def _install() -> None:
    if "replicast.predictors.child" in sys.orig_argv:
        # The predictor's process: its command read, its "done" about to be written.
        _wrap("replicast.predictors.protocol", "Reader.receive", leave="child.command",
              when=_predict_command)
        protocol = importlib.import_module("replicast.predictors.protocol")
        send = protocol.Channel.send_encoded

        def send_encoded(self: Any, data: bytes) -> None:
            if b'"type":"done"' in data:
                note("child.done")
            send(self, data)

        protocol.Channel.send_encoded = send_encoded
        return
    if "serve" not in sys.orig_argv:
        return
    # Before anything imports them by name: the route table takes the handler then.
    _wrap("replicast.edge.protocol", "GuardedProtocol.data_received", enter="read")
    _wrap("replicast.api.predictions", "create_for_model", enter="handler")
    _wrap("replicast.predictions.service", "PredictionService.create", enter="create")
    _wrap("replicast.predictions.lifecycle", "Lifecycle.begin", enter="begin")
    _wrap("replicast.store.sqlite.access", "SQLiteAccess.write", enter="sql", leave="sql.end")
    _wrap("replicast.worker.supervisor", "RunSupervisor.run", enter="run")
    _wrap("replicast.predictors.process", "ChildProcess.send", leave="sent")
    _wrap("replicast.predictors.protocol", "LogSplitter.feed", leave="done", when=_done_among)
    _wrap("replicast.worker.outcome", "record", enter="record", leave="recorded")
    _wrap("replicast.predictions.wire", "to_json", enter="answer")
    edge_writes = importlib.import_module("replicast.edge.writes")
    flush = edge_writes.OneWritePerTurn.flush

    def flushed(self: Any) -> None:
        pending = self._pending
        flush(self)
        if pending:
            note("written")

    edge_writes.OneWritePerTurn.flush = flushed


if _OUT:
    _install()
    atexit.register(_write)
