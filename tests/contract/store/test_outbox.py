"""The webhook outbox's contract: what every store backend must do."""

from __future__ import annotations

from datetime import timedelta

from replicast import ids, times
from replicast.predictions.status import Status
from replicast.webhooks.delivery import Delivery, DeliveryState, WebhookEvent
from tests.contract.store.rows import make


async def test_webhook_backlog_counts_states(store, account):
    from replicast.webhooks.delivery import Delivery, WebhookEvent

    p = make(account.id)
    await store.predictions.insert(p)
    now = times.now()
    await store.outbox.insert([
        Delivery(id=ids.random_id(26), prediction_id=p.id, account_id=account.id,
                 event=WebhookEvent.COMPLETED, url="https://x.test/", payload=b"{}",
                 created_at=now, next_attempt_at=now) for _ in range(2)])
    assert await store.outbox.backlog() == {"pending": 2}


async def test_claims_name_their_claimant_and_are_released_at_once(store, account):
    from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState, WebhookEvent

    now = times.now()
    lease = now + timedelta(seconds=40)
    deliveries = []
    for _ in range(3):
        p = make(account.id)
        await store.predictions.insert(p)
        deliveries.append(Delivery(
            id=ids.random_id(26), prediction_id=p.id, account_id=account.id,
            event=WebhookEvent.COMPLETED, url="https://x.test/", payload=b"{}",
            created_at=now, next_attempt_at=now))
    await store.outbox.insert(deliveries)
    (first,) = await store.outbox.claim(now, lease, 1, "one")
    (second,) = await store.outbox.claim(now, lease, 1, "two")
    (retried,) = await store.outbox.claim(now, lease, 1, "one")
    await store.outbox.finish_attempt(retried, Attempt(1, now, 5.0, 503, None),
                                      state=DeliveryState.PENDING,
                                      next_attempt_at=now + timedelta(seconds=60))
    assert await store.outbox.claim(now, lease, 10, "three") == []
    # A stopping claimant's claims fall due at once; a retry keeps its time.
    assert await store.outbox.release_claims(now, "one") == 1
    assert [d.id for d in await store.outbox.claim(now, lease, 10, "three")] == [first.id]
    # At the start of the one process using the store, every claim is released.
    assert await store.outbox.release_claims(now) == 2
    again = await store.outbox.claim(now, lease, 10, "four")
    assert sorted(d.id for d in again) == sorted([first.id, second.id])


async def test_an_attempt_in_flight_does_not_revive_a_delivery_given_up(store):
    from replicast.webhooks.delivery import Attempt

    account = await store.accounts.ensure_account("alice")
    now = times.now()
    p = make(account.id, status=Status.SUCCEEDED, completed_at=now - timedelta(hours=2))
    await store.predictions.insert(p)
    await store.outbox.insert([
        Delivery(id=ids.random_id(26), prediction_id=p.id, account_id=account.id,
                 event=WebhookEvent.COMPLETED, url="https://x.test/", payload=b"{}",
                 created_at=now, next_attempt_at=now)])
    (claimed,) = await store.outbox.claim(now, now + timedelta(seconds=30), 10)
    await store.predictions.remove_data([p.id])  # while the attempt is in flight
    await store.outbox.finish_attempt(claimed, Attempt(1, now, 5.0, 503, None),
                                      state=DeliveryState.PENDING,
                                      next_attempt_at=now + timedelta(seconds=1))
    ((delivery, attempts),) = await store.outbox.of_prediction(p.id)
    assert delivery.state is DeliveryState.FAILED and delivery.payload == b""
    assert len(attempts) == 1  # the attempt itself is still recorded
    assert await store.outbox.claim(now + timedelta(minutes=1),
                                    now + timedelta(minutes=2), 10) == []
