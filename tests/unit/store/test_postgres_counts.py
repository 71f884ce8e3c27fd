"""The PostgreSQL counts' folder: refusals are said once, outages left to the store."""

from __future__ import annotations

import asyncio
import logging

from replicast.errors import StoreError, StoreUnavailable
from replicast.store.postgres import counts


async def test_a_refused_fold_is_logged_once_and_its_recovery_too(monkeypatch, caplog):
    outcomes = [StoreError("PostgreSQL refused a query: permission denied")] * 3 + [
        StoreUnavailable("PostgreSQL cannot be used now: gone"), 5, 0]
    done = asyncio.Event()

    async def fold(db):
        outcome = outcomes.pop(0)
        if not outcomes:
            done.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(counts, "fold", fold)
    monkeypatch.setattr(counts, "FOLD_SECONDS", 0.001)
    with caplog.at_level(logging.INFO, logger=counts.__name__):
        task = asyncio.create_task(counts.fold_forever(object()))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "cannot fold the counts' log of changes (reads grow slower until it can): "
        "PostgreSQL refused a query: permission denied",
        "the counts' log of changes is folded again"]


async def test_a_fold_that_moved_nothing_does_not_end_a_full_disk(tmp_path):
    from replicast.errors import DiskFull
    from replicast.store.postgres.store import PostgresStore
    from tests.support import services

    url = await services.create_database()
    store = PostgresStore(url)
    try:
        await store.open()
        await counts.fold(store._db)  # the log is empty from here on
        store.health.failed(DiskFull("PostgreSQL's disk is full: could not extend file"))
        assert await counts.fold(store._db) == 0
        assert store.health.writes_refused  # nothing was written: nothing is known
        account = await store.accounts.ensure_account("alice")
        from tests.contract.store.rows import make

        await store.predictions.insert(make(account.id))
        assert await counts.fold(store._db) == 1
        assert store.health.problem is None  # a fold that wrote shows writes work
    finally:
        await store.close()
        await services.drop_database(url)
