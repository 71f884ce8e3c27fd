"""The store contract: what every store backend must do."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from replicast import ids, times
from replicast.accounts.account import hash_token, new_key
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.store.predictions import UNSET, Change, PageQuery
from replicast.store.sessions import WebSession


def make(account_id: int, **fields) -> Prediction:
    values = dict(
        id=ids.prediction_id(), account_id=account_id, model="replicast/echo", version="v1",
        input={"prompt": "hi", "n": [1, 2.5, None, {"é": True}]}, status=Status.STARTING,
        created_at=times.now(), base_url="http://h", stream_token=ids.url_token(),
    )
    values.update(fields)
    return Prediction(**values)


@pytest.fixture
async def account(store):
    return await store.accounts.ensure_account("alice")


async def test_a_prediction_round_trips_every_field(store, account):
    now = times.now()
    p = make(account.id, output={"a": [1, "x"]}, logs="line\n", error=None, started_at=now,
             completed_at=now + timedelta(seconds=1), deadline=now + timedelta(minutes=5),
             metrics={"predict_time": 0.5}, webhook="https://example.com/hook",
             webhook_events_filter=["start", "completed"], data_removed=True, attempt=2,
             source="api", version="hidden", upstream_id="upstream-1")
    await store.predictions.insert(p)
    assert await store.predictions.get(p.id) == p
    assert await store.predictions.get_by_stream_token(p.stream_token) == p
    assert await store.predictions.get("0" * 26) is None
    assert await store.predictions.get_by_stream_token("nope") is None


async def test_timestamps_keep_microseconds_and_utc(store, account):
    p = make(account.id)
    await store.predictions.insert(p)
    got = await store.predictions.get(p.id)
    assert got.created_at == p.created_at and got.created_at.utcoffset() == timedelta(0)


async def test_updates_are_compare_and_set(store, account):
    p = make(account.id)
    await store.predictions.insert(p)
    started = times.now()
    moved = await store.predictions.update(
        p.id, frozenset({Status.STARTING}),
        Change(status=Status.PROCESSING, started_at=started, next_attempt=True),
    )
    assert moved.status is Status.PROCESSING and moved.started_at == started
    assert moved.attempt == 1 and moved.input == p.input
    # A second writer expecting the old status loses.
    assert await store.predictions.update(
        p.id, frozenset({Status.STARTING}), Change(status=Status.CANCELED)
    ) is None
    assert (await store.predictions.get(p.id)).status is Status.PROCESSING
    assert await store.predictions.update(
        "0" * 26, frozenset({Status.PROCESSING}), Change(status=Status.FAILED)
    ) is None


async def test_secrets_are_kept_until_the_prediction_finishes(store, account):
    p = make(account.id, input={"prompt": "hi", "token": "**********"},
             secrets={"token": "s3cret"})
    await store.predictions.insert(p)
    assert (await store.predictions.get(p.id)).run_input() == {"prompt": "hi", "token": "s3cret"}
    running = await store.predictions.update(
        p.id, frozenset({Status.STARTING}), Change(status=Status.PROCESSING))
    assert running.secrets == {"token": "s3cret"}
    done = await store.predictions.update(
        p.id, frozenset({Status.PROCESSING}), Change(status=Status.SUCCEEDED))
    assert done.secrets is None
    got = await store.predictions.get(p.id)
    assert got.secrets is None and got.input["token"] == "**********"


async def test_logs_append_and_replace(store, account):
    p = make(account.id, status=Status.PROCESSING, logs="a\n")
    await store.predictions.insert(p)
    processing = frozenset({Status.PROCESSING})
    await store.predictions.update(p.id, processing, Change(append_logs="b\n"))
    got = await store.predictions.update(p.id, processing, Change(append_logs="c\n",
                                                                 output=["x"]))
    assert got.logs == "a\nb\nc\n" and got.output == ["x"]
    got = await store.predictions.update(p.id, processing, Change(logs="new\n", append_logs="d"))
    assert got.logs == "new\nd"
    got = await store.predictions.update(p.id, processing, Change(output=None, error="e"))
    assert got.output is None and got.error == "e"


async def test_an_empty_change_is_refused(store, account):
    p = make(account.id)
    await store.predictions.insert(p)
    with pytest.raises(Exception, match="must change something"):
        await store.predictions.update(p.id, frozenset({Status.STARTING}), Change())


async def test_concurrent_writes_all_land(store, account):
    batch = [make(account.id) for _ in range(300)]
    await asyncio.gather(*(store.predictions.insert(p) for p in batch))
    for p in batch[::37]:
        assert await store.predictions.get(p.id) == p
    page = await store.predictions.page(PageQuery(account.id, limit=1000))
    assert len(page.predictions) == 300 and not page.more


async def test_a_failing_write_does_not_undo_others_committed_with_it(store, account):
    first = make(account.id)
    await store.predictions.insert(first)
    others = [make(account.id) for _ in range(20)]
    results = await asyncio.gather(
        *(store.predictions.insert(p) for p in others[:10]),
        store.predictions.insert(first),  # duplicate id
        *(store.predictions.insert(p) for p in others[10:]),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Exception) for r in results) == 1
    for p in others:
        assert await store.predictions.get(p.id) == p


async def test_listing_is_newest_first_per_account_with_cursors_and_filters(store, account):
    other = await store.accounts.ensure_account("bob")
    base = times.now()
    mine = [make(account.id, created_at=base + timedelta(seconds=i)) for i in range(7)]
    # Two at the same instant: the id breaks the tie.
    mine.append(make(account.id, created_at=mine[3].created_at))
    for p in [*mine, make(other.id)]:
        await store.predictions.insert(p)
    expected = sorted(mine, key=lambda p: (p.created_at, p.id), reverse=True)

    page = await store.predictions.page(PageQuery(account.id, limit=3))
    assert [p.id for p in page.predictions] == [p.id for p in expected[:3]] and page.more
    last = page.predictions[-1]
    page2 = await store.predictions.page(PageQuery(account.id, limit=3,
                                                   before=(last.created_at, last.id)))
    assert [p.id for p in page2.predictions] == [p.id for p in expected[3:6]] and page2.more
    first = page2.predictions[0]
    back = await store.predictions.page(
        PageQuery(account.id, limit=3, after=(first.created_at, first.id))
    )
    assert [p.id for p in back.predictions] == [p.id for p in expected[:3]] and not back.more
    last = page2.predictions[-1]
    end = await store.predictions.page(PageQuery(account.id, limit=3,
                                                 before=(last.created_at, last.id)))
    assert [p.id for p in end.predictions] == [p.id for p in expected[6:]] and not end.more

    window = await store.predictions.page(PageQuery(
        account.id, limit=50, created_after=mine[2].created_at, created_before=mine[5].created_at,
    ))
    assert {p.id for p in window.predictions} == {mine[2].id, mine[3].id, mine[4].id, mine[7].id}
    assert (await store.predictions.page(PageQuery(account.id, limit=5, source="web"))
            ).predictions == []


async def test_a_page_ends_early_once_its_stored_bytes_pass_the_limit(store, account):
    base = times.now()
    # Input, output and logs all count: 10 kB each way, and always one row at least.
    sizes = [("i", 10_000), ("o", 10_000), ("l", 10_000), ("i", 30_000), ("i", 10),
             ("l", 10)]
    made = []
    for index, (where, size) in enumerate(sizes):
        text = "é" * (size // 2)  # two bytes each in UTF-8: bytes are counted, not characters
        fields = {"i": {"input": {"prompt": text}}, "o": {"output": text},
                  "l": {"logs": text}}[where]
        made.append(make(account.id, created_at=base - timedelta(seconds=index), **fields))
    for p in made:
        await store.predictions.insert(p)

    def ids(rows):
        return [p.id for p in rows.predictions]

    query = PageQuery(account.id, limit=10, max_bytes=25_000)
    first = await store.predictions.page(query)
    assert ids(first) == [made[0].id, made[1].id] and first.more
    second = await store.predictions.page(dataclasses.replace(
        query, before=(made[1].created_at, made[1].id)))
    assert ids(second) == [made[2].id] and second.more
    alone = await store.predictions.page(dataclasses.replace(
        query, before=(made[2].created_at, made[2].id)))
    assert ids(alone) == [made[3].id] and alone.more  # past the limit by itself
    rest = await store.predictions.page(dataclasses.replace(
        query, before=(made[3].created_at, made[3].id)))
    assert ids(rest) == [made[4].id, made[5].id] and not rest.more
    # Backwards from a cursor, the rows nearest it come first, and the limit holds too.
    back = await store.predictions.page(dataclasses.replace(
        query, after=(made[4].created_at, made[4].id)))
    assert ids(back) == [made[3].id] and back.more
    back = await store.predictions.page(dataclasses.replace(
        query, after=(made[3].created_at, made[3].id)))
    assert ids(back) == [made[1].id, made[2].id] and back.more
    # Data removed by retention no longer counts.
    await store.predictions.remove_data([made[3].id])
    assert ids(await store.predictions.page(dataclasses.replace(
        query, before=(made[2].created_at, made[2].id)))) == [p.id for p in made[3:]]


async def test_unfinished_predictions_oldest_first(store, account):
    base = times.now()
    starting = make(account.id, created_at=base + timedelta(seconds=2))
    processing = make(account.id, status=Status.PROCESSING, created_at=base)
    done = [make(account.id, status=s) for s in (Status.SUCCEEDED, Status.FAILED,
                                                  Status.CANCELED, Status.ABORTED)]
    for p in [starting, processing, *done]:
        await store.predictions.insert(p)
    assert [p.id for p in await store.runs.list_unfinished()] == [processing.id, starting.id]


async def test_run_counts_by_model(store, account):
    for model in ["a/x", "a/x", "b/y"]:
        await store.predictions.insert(make(account.id, model=model))
    assert await store.predictions.run_counts() == {"a/x": 2, "b/y": 1}


async def test_accounts_are_created_once(store):
    first = await store.accounts.ensure_account("carol")
    again = await store.accounts.ensure_account("carol")
    assert first == again
    assert first.username == "carol" and first.id > 0


async def test_keys_are_found_by_digest_until_revoked(store, account):
    key = new_key(account.id, "r8_secret", "laptop")
    await store.accounts.insert_key(key)
    found = await store.accounts.find_key(hash_token("r8_secret"))
    assert found == (key, account)
    assert await store.accounts.find_key(hash_token("r8_other")) is None
    assert [k.id for k, _ in await store.accounts.list_keys()] == [key.id]
    assert await store.accounts.revoke_key(key.id) is True
    assert await store.accounts.revoke_key(key.id) is False
    assert await store.accounts.find_key(hash_token("r8_secret")) is None
    (listed, owner), = await store.accounts.list_keys()
    assert listed.revoked_at is not None and owner == account


async def test_state_survives_reopening(store_factory):
    store = await store_factory()
    account = await store.accounts.ensure_account("dave")
    p = make(account.id)
    await store.predictions.insert(p)
    await store.close()
    reopened = await store_factory()
    try:
        assert await reopened.predictions.get(p.id) == p
    finally:
        await reopened.close()


def test_change_defaults_leave_everything_unset():
    change = Change()
    assert change.status is None and change.output is UNSET and change.append_logs == ""


async def test_renewing_moves_only_the_leases_named(store, account):
    now = times.now()
    running, finished = make(account.id), make(account.id)
    for p in (running, finished):
        await store.predictions.insert(p)
        await store.predictions.update(
            p.id, frozenset({Status.STARTING}),
            Change(status=Status.PROCESSING, started_at=now, worker_id="w1",
                   lease_until=now + timedelta(seconds=30)))
    # The worker still runs one; the other's run ended and its outcome is not written.
    assert await store.runs.renew_leases("w1", [running.id], now + timedelta(seconds=60)) == 1
    assert await store.runs.renew_leases("w1", [], now + timedelta(seconds=60)) == 0
    expired = await store.runs.expired_leases(now + timedelta(seconds=45), 10)
    assert [e.id for e in expired] == [finished.id]


async def test_claims_leases_and_guards(store, account):
    from replicast.store.predictions import Guard

    now = times.now()
    p = make(account.id)
    await store.predictions.insert(p)
    claimed = await store.predictions.update(
        p.id, frozenset({Status.STARTING}),
        Change(status=Status.PROCESSING, started_at=now, worker_id="w1",
               lease_until=now + timedelta(seconds=30)))
    assert claimed.worker_id == "w1" and claimed.lease_until == now + timedelta(seconds=30)
    processing = frozenset({Status.PROCESSING})
    # Another worker's write is refused; the owner's goes through.
    assert await store.predictions.update(p.id, processing, Change(append_logs="x"),
                                         guard=Guard(worker_id="w2")) is None
    assert (await store.predictions.update(p.id, processing, Change(append_logs="x"),
                                          guard=Guard(worker_id="w1"))).logs == "x"
    # Renewing moves the lease of what the worker runs, and only that.
    assert await store.runs.renew_leases("w1", [p.id], now + timedelta(seconds=60)) == 1
    assert await store.runs.renew_leases("w2", [p.id], now + timedelta(seconds=60)) == 0
    assert await store.runs.expired_leases(now + timedelta(seconds=59), 10) == []
    expired = await store.runs.expired_leases(now + timedelta(seconds=61), 10)
    assert [e.id for e in expired] == [p.id]
    # Taking it back works only once its lease has run out.
    back = Change(status=Status.STARTING, worker_id=None, lease_until=None, started_at=None)
    assert await store.predictions.update(
        p.id, processing, back,
        guard=Guard(lease_expired_before=now + timedelta(seconds=59))) is None
    returned = await store.predictions.update(
        p.id, processing, back, guard=Guard(lease_expired_before=now + timedelta(seconds=61)))
    assert returned.status is Status.STARTING and returned.worker_id is None
    # A terminal status clears the claim by itself.
    again = await store.predictions.update(
        p.id, frozenset({Status.STARTING}),
        Change(status=Status.PROCESSING, worker_id="w3", lease_until=now))
    assert again.worker_id == "w3"
    done = await store.predictions.update(p.id, processing, Change(status=Status.SUCCEEDED))
    assert done.worker_id is None and done.lease_until is None


async def test_waiting_and_overdue_predictions(store, account):
    now = times.now()
    old = make(account.id, model="a/x", created_at=now - timedelta(seconds=10),
               deadline=now - timedelta(seconds=1))
    young = make(account.id, model="a/x", created_at=now)
    other = make(account.id, model="b/y", created_at=now - timedelta(seconds=20))
    later = make(account.id, model="a/x", created_at=now - timedelta(seconds=5),
                 deadline=now + timedelta(minutes=5))
    running = make(account.id, model="a/x", created_at=now - timedelta(seconds=30),
                   status=Status.PROCESSING, deadline=now - timedelta(seconds=2))
    done = make(account.id, model="a/x", status=Status.SUCCEEDED,
                deadline=now - timedelta(seconds=3))
    for p in (old, young, other, later, running, done):
        await store.predictions.insert(p)
    cutoff = now - timedelta(seconds=1)
    assert await store.runs.list_waiting(["a/x"], cutoff, 10) == [(old.id, "a/x"),
                                                                  (later.id, "a/x")]
    assert await store.runs.list_waiting(["a/x", "b/y"], cutoff, 2) == [(other.id, "b/y"),
                                                              (old.id, "a/x")]
    assert await store.runs.list_waiting([], cutoff, 10) == []
    assert sorted(await store.runs.waiting_models(10)) == ["a/x", "b/y"]
    assert len(await store.runs.waiting_models(1)) == 1
    assert await store.runs.list_overdue(now, 10) == [running.id, old.id]
    stats = {q.model: q for q in await store.runs.queue_stats()}
    assert stats["a/x"].waiting == 3 and stats["a/x"].oldest_created_at == old.created_at
    assert stats["b/y"].waiting == 1
    counts = await store.predictions.status_counts()
    assert counts[("a/x", "starting")] == 3 and counts[("a/x", "processing")] == 1
    assert counts[("a/x", "succeeded")] == 1


async def test_workers_report_themselves(store):
    from replicast.store.runs import WorkerInfo

    now = times.now()
    first = WorkerInfo("w1", "host-a", 10, ("a/x",), now, now)
    await store.runs.record_worker(first)
    await store.runs.record_worker(WorkerInfo("w2", "host-b", 11, ("a/x", "b/y"),
                                         now + timedelta(seconds=1), now))
    beat = WorkerInfo("w1", "host-a", 10, ("a/x",), now, now + timedelta(seconds=5))
    await store.runs.record_worker(beat)
    workers = await store.runs.list_workers()
    assert [w.id for w in workers] == ["w1", "w2"]
    assert workers[0] == beat and workers[1].models == ("a/x", "b/y")
    await store.runs.remove_worker("w1")
    assert [w.id for w in await store.runs.list_workers()] == ["w2"]
    await store.ping()


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


async def test_web_sessions_are_kept_until_they_end_or_are_deleted(store):
    now = times.now()
    kept = WebSession("a" * 64, "d" * 64, now, now + timedelta(hours=1))
    short = WebSession("b" * 64, "d" * 64, now, now + timedelta(seconds=1))
    await store.sessions.insert(kept)
    await store.sessions.insert(short)
    assert await store.sessions.get("a" * 64, now) == kept
    assert await store.sessions.get("b" * 64, now + timedelta(seconds=2)) is None
    assert await store.sessions.get("c" * 64, now) is None
    # A sign-in after the short one ended sweeps it away.
    later = now + timedelta(minutes=5)
    await store.sessions.insert(WebSession("e" * 64, "d" * 64, later,
                                              later + timedelta(hours=1)))
    assert await store.sessions.get("b" * 64, now) is None
    await store.sessions.delete("a" * 64)
    await store.sessions.delete("a" * 64)  # twice: nothing to do
    assert await store.sessions.get("a" * 64, now) is None
    assert await store.sessions.get("e" * 64, later) is not None
