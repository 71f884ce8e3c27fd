"""What a SQLite store leaves in its files: removed data gone from the WAL, and updates
that do not write a large input again."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3

import pytest

from replicast import ids, times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.predictions import Change
from replicast.store.sqlite import access as sqlite_access
from replicast.store.sqlite.store import SQLiteStore

MiB = 1024 * 1024
PROCESSING = frozenset({Status.PROCESSING})


def prediction(account_id: int, **fields) -> Prediction:
    values = dict(id=ids.prediction_id(), account_id=account_id, model="a/b", version="v",
                  input={"prompt": "hi"}, status=Status.STARTING, created_at=times.now(),
                  base_url="http://h", stream_token=ids.url_token())
    values.update(fields)
    return Prediction(**values)


def stored_bytes(path) -> bytes:
    """Everything the database's files hold: the database, its WAL and the WAL's index."""
    return b"".join(f.read_bytes() for f in sorted(path.parent.glob(path.name + "*")))


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "replicast.db")
    await store.open()
    yield store
    await store.close()


async def scrubbed(store: SQLiteStore) -> None:
    """Until the emptying of the WAL that a removal asked for is done (if one did)."""
    scrub = getattr(store._db, "_scrub", None)
    if scrub is not None:
        await asyncio.wait_for(scrub, 10)


async def run_to_the_end(store: SQLiteStore, p: Prediction) -> Prediction:
    await store.predictions.update(p.id, frozenset({Status.STARTING}),
                                   Change(status=Status.PROCESSING))
    await store.predictions.update(p.id, PROCESSING, Change(append_logs="working\n"))
    done = await store.predictions.update(p.id, PROCESSING, Change(status=Status.SUCCEEDED))
    assert done is not None
    return done


async def test_a_secret_leaves_the_files_once_its_prediction_finishes(store):
    account = await store.accounts.ensure_account("alice")
    secret = "s3cret-" + ids.random_id(20)
    p = prediction(account.id, input={"prompt": "hi", "token": "**********"},
                   secrets={"token": secret})
    await store.predictions.insert(p)
    assert secret.encode() in stored_bytes(store.path)
    done = await run_to_the_end(store, p)
    assert done.secrets is None and done.input == p.input
    await scrubbed(store)
    assert secret.encode() not in stored_bytes(store.path)
    assert (await store.predictions.get(p.id)).input == p.input


async def test_data_removed_by_retention_leaves_the_files(store):
    account = await store.accounts.ensure_account("alice")
    marks = {name: f"{name}-{ids.random_id(20)}" for name in ("input", "output", "logs")}
    p = prediction(account.id, status=Status.SUCCEEDED, completed_at=times.now(),
                   input={"prompt": marks["input"]}, output=[marks["output"]],
                   logs=marks["logs"] + "\n")
    kept = prediction(account.id, input={"prompt": "kept-" + ids.random_id(20)})
    await store.predictions.insert(p)
    await store.predictions.insert(kept)
    assert await store.predictions.remove_data([p.id]) == 1
    await scrubbed(store)
    on_disk = stored_bytes(store.path)
    for mark in marks.values():
        assert mark.encode() not in on_disk, mark
    assert kept.input["prompt"].encode() in on_disk
    assert (await store.predictions.get(kept.id)).input == kept.input


async def test_what_a_crash_left_in_the_wal_is_emptied_at_the_next_open(store, tmp_path):
    account = await store.accounts.ensure_account("alice")
    secret = "s3cret-" + ids.random_id(20)
    p = prediction(account.id, secrets={"token": secret})
    await store.predictions.insert(p)
    await run_to_the_end(store, p)
    # The files as a crash would leave them: the WAL still holds the secret.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for f in tmp_path.glob("replicast.db*"):
        shutil.copy(f, crashed / f.name)
    assert secret.encode() in stored_bytes(crashed / "replicast.db")
    reopened = SQLiteStore(crashed / "replicast.db")
    await reopened.open()
    try:
        assert secret.encode() not in stored_bytes(reopened.path)
        assert (await reopened.predictions.get(p.id)).secrets is None
    finally:
        await reopened.close()


async def test_updates_do_not_write_a_large_input_again(store):
    account = await store.accounts.ensure_account("alice")
    wal = store.path.with_name(store.path.name + "-wal")
    before = wal.stat().st_size
    p = prediction(account.id, input={"prompt": "x" * MiB})
    await store.predictions.insert(p)
    await store.predictions.update(p.id, frozenset({Status.STARTING}),
                                   Change(status=Status.PROCESSING))
    for line in range(60):
        await store.predictions.update(p.id, PROCESSING, Change(append_logs=f"step {line}\n"))
    await store.predictions.update(p.id, PROCESSING, Change(status=Status.SUCCEEDED,
                                                            output="done"))
    # The input once (1 MiB), and a few pages for each of the 62 updates.
    assert wal.stat().st_size - before < 2 * MiB
    got = await store.predictions.get(p.id)
    assert got.input == p.input and got.logs.count("step") == 60


async def test_the_wal_is_cut_back_when_it_starts_over(store, monkeypatch):
    account = await store.accounts.ensure_account("alice")
    wal = store.path.with_name(store.path.name + "-wal")
    limit = sqlite_access.WAL_SIZE_LIMIT
    for _ in range(limit // MiB + 4):
        await store.predictions.insert(prediction(account.id, input={"prompt": "x" * MiB}))
    assert wal.stat().st_size > limit + 3 * MiB
    monkeypatch.setattr(sqlite_access, "_RESET_FRAMES", 1)
    await store._db._run_checkpoint()  # copies the WAL and starts it over
    await store.predictions.insert(prediction(account.id))
    assert wal.stat().st_size <= limit


async def test_whatever_statement_finishes_a_prediction_clears_its_secrets(store):
    account = await store.accounts.ensure_account("alice")
    p = prediction(account.id, secrets={"token": "s3cret"})
    await store.predictions.insert(p)
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("UPDATE predictions SET status = 'processing' WHERE id = ?", (p.id,))
        assert (await store.predictions.get(p.id)).secrets == {"token": "s3cret"}
        other.execute("UPDATE predictions SET status = 'failed' WHERE id = ?", (p.id,))
    finally:
        other.close()
    assert (await store.predictions.get(p.id)).secrets is None
