"""The store's failures: SQLite's errors as the store's own, each outage logged once, and
readiness while the disk is full."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from replicast import ids, times
from replicast.errors import DiskFull, StoreError, StoreUnavailable
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.health import Health
from replicast.store.sqlite.store import SQLiteStore


def prediction(account_id: int, prompt: str = "") -> Prediction:
    return Prediction(id=ids.prediction_id(), account_id=account_id, model="a/b", version="v",
                      input={"prompt": prompt}, status=Status.STARTING, created_at=times.now(),
                      base_url="http://h", stream_token=ids.url_token())


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "replicast.store"]


def test_an_outage_is_logged_once_when_it_begins_and_once_when_it_ends(caplog):
    caplog.set_level(logging.INFO)
    health = Health()
    for _ in range(50):  # every request and background task meanwhile
        health.failed(StoreUnavailable("connection refused"))
    health.succeeded(wrote=False)
    health.succeeded(wrote=True)
    lines = outage_lines(caplog)
    assert len(lines) == 2
    assert "the store is failing" in lines[0] and "connection refused" in lines[0]
    assert lines[1].startswith("the store works again, after ")
    assert health.problem is None


def test_a_full_disk_ends_only_with_a_write_once_there_is_room(caplog):
    room = False
    health = Health(has_room=lambda: room)
    health.failed(DiskFull("the disk under /data is full"))
    health.succeeded(wrote=False)  # reads still work
    health.succeeded(wrote=True)  # a write that needed no room
    assert health.writes_refused
    room = True
    health.succeeded(wrote=True)
    assert health.problem is None


class CappedStore(SQLiteStore):
    """A store whose database may grow by a few pages at most: SQLite answers writes
    that need more with SQLITE_FULL, as on a full disk."""

    pages = 0

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        connection = super()._connect(busy_timeout)
        connection.execute(f"PRAGMA max_page_count = {self.pages + 2}")
        return connection


@pytest.fixture
async def capped(tmp_path):
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    await store.open()
    account = await store.accounts.ensure_account("a")
    await store.close()
    capped = CappedStore(path)
    capped.pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    await capped.open()
    yield capped, account
    await capped.close()


async def test_sqlite_full_is_disk_full_and_readiness_sees_it(capped, tmp_path, caplog):
    store, account = capped
    with pytest.raises(DiskFull, match=f"the disk under {tmp_path} is full") as full:
        for _ in range(20):
            await store.predictions.insert(prediction(account.id, "x" * 4000))
    assert full.value.__cause__.sqlite_errorcode == sqlite3.SQLITE_FULL
    assert await store.predictions.get("nothing") is None  # reads still work
    store._db.health.has_room = lambda: False  # as a full disk shows
    with pytest.raises(DiskFull):
        await store.ping()
    store._db.health.has_room = lambda: True  # room again: the probe write shows it
    await store.ping()
    assert store._db.health.problem is None
    assert len(outage_lines(caplog)) == 2


async def test_a_refused_statement_is_a_store_error_not_an_outage(tmp_path):
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        account = await store.accounts.ensure_account("a")
        p = prediction(account.id)
        await store.predictions.insert(p)
        with pytest.raises(StoreError) as refused:
            await store.predictions.insert(p)
        assert not isinstance(refused.value, StoreUnavailable)
        assert store._db.health.problem is None
        await store.ping()
    finally:
        await store.close()
