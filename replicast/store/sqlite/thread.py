"""A SQLite connection owned by one thread, driven from the event loop.

The writer groups whatever calls are waiting into one transaction (group commit):
under load many predictions share one commit, and each call still runs in its own
savepoint, so one failing call does not undo the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Call = Callable[[sqlite3.Connection], Any]
_STOP = object()
_MAX_BATCH = 256


class ConnectionThread:
    """Runs calls against one connection, in submission order, on one thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str, *, writer: bool):
        self._connect = connect
        self._writer = writer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._pending = 0  # submitted and not yet settled; read and written on the loop

    @property
    def idle(self) -> bool:
        """Whether every call submitted so far has finished (and committed)."""
        return self._pending == 0

    def start(self) -> None:
        """Open the connection on the thread; raise what opening raised."""
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure

    async def run(self, call: Callable[[sqlite3.Connection], T], *,
                  transaction: bool = True) -> T:
        """Run ``call(connection)`` on the thread and return its result.

        On the writer, ``transaction=False`` runs it alone, between transactions.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        # Counted down when the thread has run it, not when the caller stops waiting:
        # a canceled caller's write still happens, and later writes must queue behind it.
        self._pending += 1
        self._queue.put((call, future, loop, transaction))
        return await future

    async def stop(self) -> None:
        """Finish the calls already submitted, then close the connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)

    def _main(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < _MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not self._handle(connection, batch):
                    return
        finally:
            connection.close()

    def _handle(self, connection: sqlite3.Connection, batch: list[Any]) -> bool:
        """Run a batch in order, grouping transactional calls; False at the stop marker."""
        group: list[Any] = []
        for item in batch:
            alone = item is _STOP or not item[3]
            if alone or not self._writer:
                self._flush(connection, group)
                group = []
                if item is _STOP:
                    return False
                self._settle([item], [run_call(connection, item[0])])
            else:
                group.append(item)
        self._flush(connection, group)
        return True

    def _flush(self, connection: sqlite3.Connection, calls: list[Any]) -> None:
        if calls:
            self._settle(calls, _transaction(connection, calls))

    def _settle(self, calls: list[Any], results: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        by_loop = {}
        for (_, future, loop, _), (ok, value) in zip(calls, results, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self._resolve_all, items)

    def _resolve_all(self, items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
        """On the loop: count the calls done and hand their results over."""
        self._pending -= len(items)
        for future, ok, value in items:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _transaction(connection: sqlite3.Connection, calls: list[Any]) -> list[tuple[bool, Any]]:
    try:
        connection.execute("BEGIN IMMEDIATE")
        if len(calls) == 1:  # alone in its transaction: no savepoint needed
            result = run_call(connection, calls[0][0])
            connection.execute("COMMIT" if result[0] else "ROLLBACK")
            return [result]
        results = []
        for call, _, _, _ in calls:
            connection.execute("SAVEPOINT call")
            ok, value = run_call(connection, call)
            if not ok:
                connection.execute("ROLLBACK TO call")
            connection.execute("RELEASE call")
            results.append((ok, value))
        connection.execute("COMMIT")
        return results
    except sqlite3.Error as exc:
        # Every call of the group gets the error, which the store logs once per outage.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        return [(False, exc)] * len(calls)


def run_call(connection: sqlite3.Connection, call: Call) -> tuple[bool, Any]:
    """Run one call: (True, result) or (False, the exception).

    A cursor it returns comes back as its row count, closed: an open statement
    would keep its transaction from committing.
    """
    try:
        value = call(connection)
        if isinstance(value, sqlite3.Cursor):
            count = value.rowcount
            value.close()
            return True, count
        return True, value
    except Exception as exc:
        return False, exc

