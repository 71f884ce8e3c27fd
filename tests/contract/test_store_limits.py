"""The store contract for creates under a limit on unfinished predictions."""

from __future__ import annotations

import asyncio

from replicast.predictions.status import Status
from replicast.store.predictions import Change
from tests.contract.test_store import make


async def test_a_prediction_is_inserted_only_while_the_account_is_under_the_limit(store):
    alice = await store.accounts.ensure_account("alice")
    bob = await store.accounts.ensure_account("bob")
    first, second, third = (make(alice.id) for _ in range(3))
    assert await store.predictions.insert_within(first, 2) is None
    assert await store.predictions.insert_within(second, 2) is None
    assert await store.predictions.insert_within(third, 2) == 2
    assert await store.predictions.get(third.id) is None
    # Another account has a count of its own.
    assert await store.predictions.insert_within(make(bob.id), 2) is None
    # Processing counts; finished does not.
    await store.predictions.update(first.id, frozenset({Status.STARTING}),
                                  Change(status=Status.PROCESSING))
    assert await store.predictions.insert_within(third, 2) == 2
    await store.predictions.update(first.id, frozenset({Status.PROCESSING}),
                                  Change(status=Status.SUCCEEDED))
    assert await store.predictions.insert_within(third, 2) is None
    assert (await store.predictions.get(third.id)).status is Status.STARTING
    assert await store.predictions.insert_within(make(alice.id), 2) == 2


async def test_creates_racing_in_two_processes_never_pass_the_limit(store_factory):
    # Two stores on one database stand for two API processes.
    stores = [await store_factory(), await store_factory()]
    account = await stores[0].accounts.ensure_account("alice")
    predictions = [make(account.id) for _ in range(40)]
    results = await asyncio.gather(*(
        stores[index % 2].predictions.insert_within(prediction, 5)
        for index, prediction in enumerate(predictions)))
    inserted = [p for p, result in zip(predictions, results, strict=True) if result is None]
    assert len(inserted) == 5
    assert all(result == 5 for result in results if result is not None)
    assert len(await stores[1].runs.list_unfinished()) == 5


async def test_unfinished_predictions_are_counted_per_account(store):
    alice = await store.accounts.ensure_account("alice")
    bob = await store.accounts.ensure_account("bob")
    assert await store.predictions.unfinished_count(alice.id) == 0
    first = make(alice.id)
    for prediction in (first, make(alice.id), make(bob.id)):
        await store.predictions.insert(prediction)
    assert await store.predictions.unfinished_count(alice.id) == 2
    await store.predictions.update(first.id, frozenset({Status.STARTING}),
                                  Change(status=Status.CANCELED))
    assert await store.predictions.unfinished_count(alice.id) == 1
    assert await store.predictions.unfinished_count(bob.id) == 1


async def test_an_upstream_id_is_kept_by_a_change(store):
    alice = await store.accounts.ensure_account("alice")
    prediction = make(alice.id)
    await store.predictions.insert(prediction)
    changed = await store.predictions.update(prediction.id, frozenset({Status.STARTING}),
                                            Change(upstream_id="up-7"))
    assert changed is not None and changed.upstream_id == "up-7"
    assert (await store.predictions.get(prediction.id)).upstream_id == "up-7"
