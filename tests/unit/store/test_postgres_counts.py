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
