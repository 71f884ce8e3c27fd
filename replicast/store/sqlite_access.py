"""How calls reach SQLite: inline when they cannot wait, on a thread when they might.

Handing a call to a thread and back costs two context switches, about 110 µs on a
2-core machine; the point reads and single-row writes a prediction needs take
20 to 30 µs. So those run inline, on the event loop's own connection, but only
when nothing can make them wait:

- the inline connection never waits for a lock (``busy_timeout`` 0): if another
  connection or process holds the write lock, the call goes to the writer thread,
  which may wait for it;
- it never syncs to disk: in WAL mode with ``synchronous=NORMAL`` a commit is a
  write into the page cache, and checkpoints (which do sync) run on a thread of
  their own;
- while the writer thread has calls pending, writes queue behind them there, so
  the order of writes is always the order they were made in.

Scans (listings, recovery) always run on the reader thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from replicast.store.sqlite_thread import ConnectionThread, run_call

T = TypeVar("T")
_CHECKPOINT_EVERY = 1000  # inline commits between checkpoints
_RESET_FRAMES = 16384  # force the WAL back to its start once it holds this many pages
_RESET_WAIT_MS = 50

log = logging.getLogger(__name__)


class _Busy(Exception):
    """The inline connection would have had to wait."""


class SQLiteAccess:
    """An inline connection, a writer thread (group commit) and a reader thread."""

    def __init__(self, connect: Callable[[float], sqlite3.Connection]) -> None:
        self._connect = connect
        self._writer = ConnectionThread(lambda: connect(10.0), "replicast-sqlite-writer",
                                        writer=True)
        self._reader = ConnectionThread(lambda: connect(10.0), "replicast-sqlite-reader",
                                        writer=False)
        # Checkpoints sync to disk and take milliseconds: their own thread, so that
        # neither writes nor reads queue behind them.
        self._checkpointer = ConnectionThread(lambda: connect(10.0),
                                              "replicast-sqlite-checkpointer", writer=False)
        self._inline: sqlite3.Connection | None = None
        self._inline_commits = 0
        self._checkpoint: asyncio.Task[Any] | None = None

    async def open(self, prepare: Callable[[sqlite3.Connection], None]) -> None:
        """Start the threads, run ``prepare`` (migrations) on the writer, then go inline."""
        self._writer.start()
        await self._writer.run(prepare)
        self._reader.start()
        self._checkpointer.start()
        inline = self._connect(0.0)
        inline.execute("PRAGMA wal_autocheckpoint=0")
        self._inline = inline

    async def close(self) -> None:
        """Finish what is queued and close every connection."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        await self._writer.stop()
        await self._reader.stop()
        await self._checkpointer.stop()

    async def write(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``call`` in a transaction of its own (inline) or a group commit (thread)."""
        if self._inline is not None and self._writer.idle:
            try:
                return self._write_inline(self._inline, call)
            except _Busy:
                pass
        return await self._writer.run(call)

    async def read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """A point read: inline."""
        if self._inline is not None:
            try:
                return call(self._inline)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
        return await self._reader.run(call)

    async def scan(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """A read of many rows: on the reader thread."""
        return await self._reader.run(call)

    async def _run_checkpoint(self) -> None:
        """Keep the WAL from growing without bound, without stalling writes.

        PASSIVE (its own thread) copies the WAL into the database file, blocking
        nobody. SQLite starts the WAL over by itself when a write finds it fully
        copied, which a pause in writes allows; under sustained writes it never is,
        and the file grows. Then, past ``_RESET_FRAMES``, RESTART runs on the writer
        thread between transactions: it copies the few frames added meanwhile and
        starts the WAL over. Writes made meanwhile queue behind it, in order, for a
        few milliseconds, instead of sleeping in SQLite's busy handler.
        """
        frames = await self._checkpointer.run(_copy_wal)
        if frames >= _RESET_FRAMES:
            await self._writer.run(_reset_wal, transaction=False)

    def _write_inline(self, connection: sqlite3.Connection,
                      call: Callable[[sqlite3.Connection], T]) -> T:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Busy() from exc
            raise
        ok, value = run_call(connection, call)
        try:
            if not ok:
                raise value
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self._inline_commits += 1
        if self._inline_commits % _CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.create_task(self._run_checkpoint(),
                                                   name="sqlite-checkpoint")
        result: T = value
        return result


def _copy_wal(connection: sqlite3.Connection) -> int:
    """Checkpoint what can be without waiting; how many frames the WAL holds."""
    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


def _reset_wal(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout={_RESET_WAIT_MS}")
    try:
        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    finally:
        connection.execute("PRAGMA busy_timeout=10000")


class SQLiteCalls:
    """What the parts of the SQLite store share: their calls go through ``_db``."""

    _db: SQLiteAccess

    async def _write(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.write(call)

    async def _read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.read(call)

    async def _scan(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.scan(call)
