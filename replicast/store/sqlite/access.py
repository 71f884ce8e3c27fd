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

What SQLite raises leaves here as one of the store's errors (``store_error``): a full
disk, an outage (``StoreUnavailable``), or a refusal; ``health`` learns of each.

The WAL keeps the older copies of the pages a transaction changed until it starts over,
and a crash keeps them: removed data (retention, Secret inputs cleared at the end of a
prediction, deleted files) would stay on disk there. After such removals, batched a
moment, the WAL is copied into the database (whose freed space ``secure_delete`` zeroes)
and truncated to nothing; at open too, for what a crash left behind.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from replicast.disk import disk_full, nearly_full
from replicast.errors import StoreError, StoreUnavailable
from replicast.store.health import Health
from replicast.store.sqlite.thread import ConnectionThread, run_call

T = TypeVar("T")
WAL_SIZE_LIMIT = 16 * 1024 * 1024
"""``journal_size_limit``: the WAL file is cut back to this when it starts over."""
# Writes between checkpoints (a prediction's write is ~7 pages). Each checkpoint syncs
# the WAL and the database to disk; the pages a prediction changes are mostly the same
# few (the ends of the table and its indexes), so a checkpoint every 300 writes copies
# about what one every 100 did, with fewer syncs: at one client, 0.023 fdatasync calls
# a prediction instead of 0.047 (restarts included).
_CHECKPOINT_EVERY = 300
# Force the WAL back to its start before it would grow past its size limit by the next
# checkpoint: the first commit after a restart cuts the file back to the limit and
# syncs it, which for a WAL of 16384 pages (64 MiB) took ~100 ms, every write queued
# behind it waiting.
# Each restart holds writes up for about a millisecond (it copies what the last passive
# checkpoint left and syncs the database): at 16 MiB, once every ~300 synchronous
# predictions (13 frames each); at 4 MiB it was every ~80, and those pauses were most
# of the cycles past the 99th percentile at one client.
_RESET_FRAMES = WAL_SIZE_LIMIT // (4096 + 24)  # a frame: SQLite's default page and its header
_RESET_WAIT_MS = 50
# Primary result codes that say the database cannot be used now, rather than that it
# refused the statement: trying again later can succeed.
_UNAVAILABLE = frozenset({sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY,
                          sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOMEM})
_SCRUB_DELAY = 1.0  # seconds: removals made meanwhile share one truncation of the WAL
_SCRUB_DELAY_MAX = 60.0

log = logging.getLogger(__name__)


class _Busy(Exception):
    """The inline connection would have had to wait."""


class SQLiteAccess:
    """An inline connection, a writer thread (group commit) and a reader thread."""

    def __init__(self, connect: Callable[[float], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self.path = path
        self.health = Health(has_room=lambda: not nearly_full(path.parent))
        self._writer = ConnectionThread(lambda: connect(10.0), "replicast-sqlite-writer",
                                        writer=True)
        self._reader = ConnectionThread(lambda: connect(10.0), "replicast-sqlite-reader",
                                        writer=False)
        # Checkpoints sync to disk and take milliseconds: their own thread, so that
        # neither writes nor reads queue behind them.
        self._checkpointer = ConnectionThread(lambda: connect(10.0),
                                              "replicast-sqlite-checkpointer", writer=False)
        self._inline: sqlite3.Connection | None = None
        self._commits = 0
        self._wal_frames = 0  # what the WAL held at the last checkpoint
        self._checkpoint: asyncio.Task[Any] | None = None
        self._scrub: asyncio.Task[None] | None = None
        self._scrub_wanted = False

    async def open(self, prepare: Callable[[sqlite3.Connection], None]) -> None:
        """Start the threads, run ``prepare`` (migrations) on the writer, then go inline."""
        self._writer.start()
        await self._writer.run(prepare)
        await self._writer.run(_truncate_wal, transaction=False)
        self._reader.start()
        self._checkpointer.start()
        self._inline = self._connect(0.0)

    async def close(self) -> None:
        """Finish what is queued and close every connection."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._scrub is not None:
            # Closing the last connection copies the WAL into the database and deletes it.
            self._scrub.cancel()
            await asyncio.gather(self._scrub, return_exceptions=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        await self._writer.stop()
        await self._reader.stop()
        await self._checkpointer.stop()

    async def write(self, call: Callable[[sqlite3.Connection], T], *,
                    alone: bool = False) -> T:
        """Run ``call`` in a transaction of its own (inline) or a group commit (thread).

        ``alone``: ``call`` runs a single statement, which inline is its own transaction
        (SQLite commits it as it ends), without a ``BEGIN`` and a ``COMMIT`` of their own.
        The statement must be over when ``call`` returns (its rows read, or its cursor let
        go: CPython resets a statement as its last reference goes), and what ``call`` does
        after it cannot undo it.
        """
        try:
            if self._inline is not None and self._writer.idle:
                try:
                    value = (self._write_alone(self._inline, call) if alone
                             else self._write_inline(self._inline, call))
                except _Busy:
                    value = await self._writer.run(call)
            else:
                value = await self._writer.run(call)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=True)
        self._committed()
        return value

    async def read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """A point read: inline."""
        try:
            value = self._read_inline(call)
        except _Busy:
            value = await self._off_loop(self._reader, call)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=False)
        return value

    async def scan(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """A read of many rows: on the reader thread."""
        value = await self._off_loop(self._reader, call)
        self.health.succeeded(wrote=False)
        return value

    def _read_inline(self, call: Callable[[sqlite3.Connection], T]) -> T:
        if self._inline is None:
            raise _Busy()
        try:
            return call(self._inline)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Busy() from exc
            raise

    async def _off_loop(self, thread: ConnectionThread,
                        call: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await thread.run(call)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def _failed(self, error: sqlite3.Error) -> StoreError:
        translated = store_error(error, self.path)
        if isinstance(translated, StoreUnavailable):
            self.health.failed(translated)
        return translated

    async def _run_checkpoint(self) -> None:
        """Keep the WAL from growing without bound, without stalling writes.

        PASSIVE (its own thread) copies the WAL into the database file, blocking
        nobody. SQLite starts the WAL over by itself when a write finds it fully
        copied, which a pause in writes allows; under sustained writes it never is,
        and the file grows. Then, once it would pass ``_RESET_FRAMES`` (about
        ``WAL_SIZE_LIMIT``) before the next checkpoint at the pace since the last,
        RESTART runs on the writer thread between transactions: it copies the few
        frames added meanwhile and starts the WAL over. Writes made meanwhile queue
        behind it, in order, for a few milliseconds, instead of sleeping in SQLite's
        busy handler; and since the WAL stays near its size limit at a steady pace of
        writes (a burst faster than the last interval's can take it a checkpoint's
        worth past), the first commit after the restart has little to cut back and sync.
        """
        try:
            frames = await self._checkpointer.run(_copy_wal)
            if frames < 0:  # it could not run (SQLite says -1): nothing learned
                return
            # Frames added since the last checkpoint (all of them if it started over).
            growth = frames - self._wal_frames if frames >= self._wal_frames else frames
            self._wal_frames = frames
            if frames + growth >= _RESET_FRAMES:  # the next checkpoint would be too late
                await self._writer.run(_reset_wal, transaction=False)
                self._wal_frames = 0
        except sqlite3.Error as exc:
            # A full disk, say: the WAL keeps the writes, and the next checkpoint tries again.
            log.info("could not checkpoint the database's WAL: %s", exc)

    def scrub_soon(self) -> None:
        """Have the WAL copied into the database and truncated shortly: data just removed
        must not linger in its older copies of pages. Removals meanwhile share the work."""
        self._scrub_wanted = True
        if self._scrub is None or self._scrub.done():
            self._scrub = asyncio.create_task(self._scrub_until_done(), name="sqlite-scrub")

    async def _scrub_until_done(self) -> None:
        """PASSIVE on its own thread copies the bulk without blocking anyone; TRUNCATE on
        the writer thread, between transactions, copies what came since and empties the
        WAL, writes queuing behind it meanwhile. A reader in its way makes it try again."""
        delay = _SCRUB_DELAY
        while self._scrub_wanted:
            await asyncio.sleep(delay)
            self._scrub_wanted = False
            try:
                await self._checkpointer.run(_copy_wal)
                done = await self._writer.run(_truncate_wal, transaction=False)
            except sqlite3.Error as exc:
                # A full disk, say: said once, then tried again less and less often.
                if delay == _SCRUB_DELAY:
                    log.warning("could not empty the SQLite WAL after removing data (trying "
                                "again): %s", exc)
                delay = min(delay * 2, _SCRUB_DELAY_MAX)
                self._scrub_wanted = True
                continue
            delay = _SCRUB_DELAY
            self._scrub_wanted = self._scrub_wanted or not done

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
        result: T = value
        return result

    def _write_alone(self, connection: sqlite3.Connection,
                     call: Callable[[sqlite3.Connection], T]) -> T:
        """One statement in autocommit mode. A statement that cannot have the write lock
        at once fails before it changes anything: the writer thread then runs it."""
        ok, value = run_call(connection, call)
        if not ok:
            if isinstance(value, sqlite3.OperationalError) and (
                    value.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)):
                raise _Busy() from value  # (a stale snapshot's BUSY_SNAPSHOT among them)
            raise value
        result: T = value
        return result

    def _committed(self) -> None:
        """Count a write, inline or on the writer thread; every ``_CHECKPOINT_EVERY``
        start a checkpoint (unless one is still running)."""
        self._commits += 1
        if self._commits % _CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.create_task(self._run_checkpoint(),
                                                   name="sqlite-checkpoint")


def store_error(error: sqlite3.Error, path: Path) -> StoreError:
    """SQLite's ``error`` on the database at ``path`` as the store's: ``DiskFull``,
    ``StoreUnavailable``, or a plain ``StoreError`` for a statement it refused."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
    if code == sqlite3.SQLITE_FULL or (
            code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) and nearly_full(path.parent)):
        return disk_full(path.parent, f"cannot write the database {path.name} ({error})")
    if code in _UNAVAILABLE:
        return StoreUnavailable(f"the database {path} cannot be used now: {error}")
    return StoreError(f"the database {path} refused a statement: {error}")


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


def _truncate_wal(connection: sqlite3.Connection) -> bool:
    """Copy the whole WAL into the database and truncate it to nothing; whether it could."""
    connection.execute(f"PRAGMA busy_timeout={_RESET_WAIT_MS}")
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.execute("PRAGMA busy_timeout=10000")
    return int(busy) == 0
