"""The store's part in data retention, on every backend."""

from __future__ import annotations

from datetime import timedelta

from replicast import ids, times
from replicast.predictions.status import Status
from replicast.webhooks.delivery import Delivery, DeliveryState, WebhookEvent
from tests.contract.test_store import make


async def test_retained_lists_finished_api_predictions_past_the_cutoff(store):
    account = await store.accounts.ensure_account("alice")
    now = times.now()
    old = make(account.id, status=Status.SUCCEEDED, completed_at=now - timedelta(hours=2),
               output=["http://h/outputs/x/y/out-0.webp"], logs="done\n")
    older = make(account.id, status=Status.FAILED, completed_at=now - timedelta(hours=3))
    recent = make(account.id, status=Status.SUCCEEDED, completed_at=now - timedelta(minutes=5))
    running = make(account.id, status=Status.PROCESSING, started_at=now - timedelta(hours=5))
    from_web = make(account.id, status=Status.SUCCEEDED, completed_at=now - timedelta(hours=4),
                    source="web")
    for p in (old, older, recent, running, from_web):
        await store.predictions.insert(p)
    cutoff = now - timedelta(hours=1)
    assert await store.predictions.list_retained(cutoff, 10) == [older.id, old.id]  # oldest first
    assert await store.predictions.list_retained(cutoff, 1) == [older.id]


async def test_remove_data_clears_input_output_logs_and_payloads_once(store):
    account = await store.accounts.ensure_account("alice")
    now = times.now()
    p = make(account.id, status=Status.SUCCEEDED, completed_at=now - timedelta(hours=2),
             output=["http://h/outputs/x/y/out-0.webp"], logs="done\n",
             metrics={"predict_time": 1.5}, secrets={"key": "s3cret"})
    other = make(account.id, status=Status.SUCCEEDED, completed_at=now, output="kept")
    await store.predictions.insert(p)
    await store.predictions.insert(other)
    await store.outbox.insert([
        Delivery(id=ids.random_id(26), prediction_id=p.id, account_id=account.id,
                 event=event, url="https://x.test/", payload=b'{"output": "private"}',
                 created_at=now, next_attempt_at=now)
        for event in (WebhookEvent.START, WebhookEvent.COMPLETED)])

    assert await store.predictions.remove_data([p.id]) == 1
    assert await store.predictions.remove_data([p.id]) == 0  # already done: nothing changes twice
    after = await store.predictions.get(p.id)
    assert (after.input, after.output, after.logs, after.data_removed) == ({}, None, "", True)
    assert after.secrets is None
    # What is not data stays: status, timestamps, metrics.
    assert after.status is Status.SUCCEEDED and after.completed_at == p.completed_at
    assert after.metrics == {"predict_time": 1.5}
    deliveries = await store.outbox.of_prediction(p.id)
    assert [d.payload for d, _ in deliveries] == [b"", b""]
    assert {d.state for d, _ in deliveries} == {DeliveryState.FAILED}  # none left to send
    assert await store.outbox.backlog() == {"failed": 2}
    untouched = await store.predictions.get(other.id)
    assert (untouched.output, untouched.data_removed) == ("kept", False)
    assert await store.predictions.list_retained(now + timedelta(seconds=1), 10) == [other.id]


async def test_a_server_secret_is_made_once_and_shared(store_factory):
    first, second = await store_factory(), await store_factory()
    assert await first.sessions.server_secret("output-urls", "one") == "one"
    assert await second.sessions.server_secret("output-urls", "two") == "one"
    assert await second.sessions.server_secret("other", "three") == "three"


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
