"""SQLite reached inline when nothing can wait, and on threads when something might."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from replicast import ids, times
from replicast.errors import StoreError, StoreUnavailable
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from replicast.store.sqlite import access as sqlite_access
from replicast.store.sqlite.store import SQLiteStore


def prediction(account_id: int) -> Prediction:
    return Prediction(id=ids.prediction_id(), account_id=account_id, model="a/b", version="v",
                      input={}, status=Status.STARTING, created_at=times.now(),
                      base_url="http://h", stream_token=ids.url_token())


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    yield store
    await store.close()


async def loop_lag_while(task: asyncio.Task, seconds: float) -> float:
    """The longest the loop was unavailable while ``task`` was pending, over ``seconds``."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    end = loop.time() + seconds
    while loop.time() < end:
        before = loop.time()
        await asyncio.sleep(0.005)
        worst = max(worst, loop.time() - before - 0.005)
    assert not task.done()
    return worst


async def test_a_locked_database_never_blocks_the_loop(store, tmp_path):
    account = await store.accounts.ensure_account("a")
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)  # "another process"
    other.execute("BEGIN IMMEDIATE")
    first, second = prediction(account.id), prediction(account.id)
    insert = asyncio.create_task(store.predictions.insert(first))
    await asyncio.sleep(0)
    # Queued behind the insert on the writer thread, in order: it finds the row.
    start = asyncio.create_task(store.predictions.update(
        first.id, frozenset({Status.STARTING}), Change(status=Status.PROCESSING)))
    later = asyncio.create_task(store.predictions.insert(second))
    assert await loop_lag_while(insert, 0.3) < 0.05
    other.execute("COMMIT")
    await asyncio.wait_for(insert, 5)
    assert (await asyncio.wait_for(start, 5)).status is Status.PROCESSING
    await asyncio.wait_for(later, 5)
    assert await store.predictions.get(second.id) == second
    other.close()


async def test_checkpoints_keep_the_wal_from_growing(tmp_path, monkeypatch):
    def wal_frames(path) -> int:
        """Frames in the WAL (a PASSIVE checkpoint reports them and does not reset it)."""
        probe = sqlite3.connect(path, isolation_level=None)
        try:
            return int(probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        finally:
            probe.close()

    async def frames_after(writes: int, every: int) -> int:
        monkeypatch.setattr(sqlite_access, "_CHECKPOINT_EVERY", every)
        path = tmp_path / f"wal-{every}.sqlite"
        store = SQLiteStore(path)
        await store.open()
        account = await store.accounts.ensure_account("a")
        for _ in range(writes):
            await store.predictions.insert(prediction(account.id))
        if store._db._checkpoint is not None:
            await store._db._checkpoint
        await store.predictions.insert(prediction(account.id))  # restarts the WAL
        frames = wal_frames(path)
        await store.close()
        return frames

    unbounded = await frames_after(600, every=10**9)
    bounded = await frames_after(600, every=100)
    assert unbounded > 1000
    assert bounded < unbounded / 4


async def test_the_wal_stays_near_its_size_limit_under_sustained_writes(tmp_path):
    # The first commit after the WAL starts over cuts the file back to journal_size_limit
    # and syncs it: with a WAL of 64 MiB that took ~100 ms, and every write queued behind
    # it waited. Checkpoints keep it near the limit, so that cut has nothing to do.
    path = tmp_path / "db.sqlite"
    wal = tmp_path / "db.sqlite-wal"
    store = SQLiteStore(path)
    await store.open()
    account = await store.accounts.ensure_account("a")
    largest = 0
    for number in range(4000):
        await store.predictions.insert(prediction(account.id))
        if number % 100 == 99 and store._db._checkpoint is not None:
            # A checkpointer that keeps up (how far it falls behind under load is the
            # machine's, not the policy's).
            await store._db._checkpoint
        largest = max(largest, wal.stat().st_size)
    await store.close()
    assert largest <= 3 * sqlite_access.WAL_SIZE_LIMIT, f"the WAL grew to {largest} bytes"


async def test_errors_in_a_call_roll_back_and_reach_the_caller(store):
    account = await store.accounts.ensure_account("a")
    p = prediction(account.id)
    await store.predictions.insert(p)
    with pytest.raises(StoreError, match="UNIQUE constraint failed") as refused:
        await store.predictions.insert(p)
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)
    assert not isinstance(refused.value, StoreUnavailable)  # a refusal, not an outage
    other = prediction(account.id)
    await store.predictions.insert(other)  # the connection is usable afterwards
    assert await store.predictions.get(other.id) == other


async def test_a_prediction_made_in_one_statement_is_committed_without_begin_or_commit(
        store, tmp_path):
    account = await store.accounts.ensure_account("a")
    statements: list[str] = []
    store._db._inline.set_trace_callback(statements.append)
    p = prediction(account.id)
    await store.predictions.insert(p)
    store._db._inline.set_trace_callback(None)
    # The INSERT alone (traced again for each statement of the trigger counting it):
    # no BEGIN, no COMMIT around it.
    assert {s.split()[0] for s in statements} == {"INSERT"}
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    try:  # committed, as another connection sees
        assert other.execute("SELECT status FROM predictions WHERE id = ?",
                             (p.id,)).fetchone() == ("starting",)
    finally:
        other.close()


async def test_a_single_statement_that_fails_changes_nothing_not_even_its_triggers(store):
    account = await store.accounts.ensure_account("a")
    p = prediction(account.id)
    await store.predictions.insert(p)
    with pytest.raises(StoreError, match="UNIQUE constraint failed"):
        await store.predictions.insert(p)
    # The trigger that counted the failed INSERT was undone with it.
    assert await store.predictions.run_counts() == {"a/b": 1}


async def test_a_single_statement_whose_rows_are_left_unread_commits_as_its_cursor_goes(
        store, tmp_path):
    account = await store.accounts.ensure_account("a")
    first, second = prediction(account.id), prediction(account.id)
    await store.predictions.insert(first)
    await store.predictions.insert(second)
    query = "UPDATE predictions SET status = 'processing' RETURNING id"
    # Only the first of the two rows is read; the cursor goes as the call returns.
    one = await store._db.write(lambda c: c.execute(query).fetchone(), alone=True)
    assert one[0] in {first.id, second.id}
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None, timeout=0)
    try:  # committed, and the write lock free for another connection at once
        assert other.execute("SELECT count(*) FROM predictions WHERE status = 'processing'"
                             ).fetchone() == (2,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_large_wal_is_started_over_between_transactions(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_access, "_CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(sqlite_access, "_RESET_FRAMES", 1)
    resets = []
    real_reset = sqlite_access._reset_wal

    def counting_reset(connection):
        assert not connection.in_transaction
        resets.append(True)
        real_reset(connection)

    monkeypatch.setattr(sqlite_access, "_reset_wal", counting_reset)
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    account = await store.accounts.ensure_account("a")
    kept = [prediction(account.id) for _ in range(120)]
    for p in kept:
        await store.predictions.insert(p)
    await store._db._checkpoint
    assert resets
    for p in kept[::20]:
        assert await store.predictions.get(p.id) == p
    await store.close()


class Spy:
    """Counts the calls that go to the writer thread."""

    def __init__(self, store, monkeypatch):
        self.calls = 0
        real = store._db._writer.run

        async def run(call, **kwargs):
            self.calls += 1
            return await real(call, **kwargs)

        monkeypatch.setattr(store._db._writer, "run", run)


async def test_writes_run_inline_when_nothing_is_in_their_way(store, monkeypatch):
    account = await store.accounts.ensure_account("a")
    spy = Spy(store, monkeypatch)
    p = prediction(account.id)
    await store.predictions.insert(p)
    await store.predictions.update(p.id, frozenset({Status.STARTING}),
                                   Change(status=Status.PROCESSING))
    assert spy.calls == 0


async def test_queued_writes_share_a_commit_and_a_failure_undoes_only_itself(
        store, tmp_path, monkeypatch):
    account = await store.accounts.ensure_account("a")
    existing = prediction(account.id)
    await store.predictions.insert(existing)
    spy = Spy(store, monkeypatch)
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # every write now queues on the writer thread
    fresh = [prediction(account.id) for _ in range(6)]
    tasks = [asyncio.create_task(store.predictions.insert(p)) for p in fresh[:3]]
    tasks.append(asyncio.create_task(store.predictions.insert(existing)))  # a duplicate
    tasks += [asyncio.create_task(store.predictions.insert(p)) for p in fresh[3:]]
    await asyncio.sleep(0.1)
    assert not any(t.done() for t in tasks)
    other.execute("COMMIT")
    other.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert [isinstance(r, StoreError) for r in results] == [False] * 3 + [True] + [False] * 3
    assert spy.calls == len(tasks)
    for p in fresh:
        assert await store.predictions.get(p.id) == p


async def test_a_canceled_caller_does_not_let_later_writes_overtake_its_write(store, tmp_path):
    account = await store.accounts.ensure_account("a")
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    p = prediction(account.id)
    insert = asyncio.create_task(store.predictions.insert(p))
    await asyncio.sleep(0.05)
    insert.cancel()  # the caller gives up; the write is already queued
    await asyncio.gather(insert, return_exceptions=True)
    assert not store._db._writer.idle
    start = asyncio.create_task(store.predictions.update(
        p.id, frozenset({Status.STARTING}), Change(status=Status.PROCESSING)))
    await asyncio.sleep(0.05)
    other.execute("COMMIT")
    other.close()
    started = await asyncio.wait_for(start, 5)
    assert started is not None and started.status is Status.PROCESSING


async def test_the_wal_starts_over_before_the_next_checkpoint_would_find_it_too_long(
        tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_access, "_RESET_FRAMES", 100)
    found = iter([30, 60, -1, 70, 40, 95])  # what each checkpoint finds (-1: it could not)
    monkeypatch.setattr(sqlite_access, "_copy_wal", lambda connection: next(found))
    resets = []
    monkeypatch.setattr(sqlite_access, "_reset_wal", lambda connection: resets.append(True))
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        after = []
        for _ in range(6):
            await store._db._run_checkpoint()
            after.append(len(resets))
    finally:
        await store.close()
    # 30 (+30: 60 by the next), 60 (+30: 90), nothing known, 70 (+10: 80), then 40 after
    # a start over by itself (+40: 80), 95 (+55: too many: started over).
    assert after == [0, 0, 0, 0, 0, 1]
