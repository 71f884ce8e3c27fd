"""The predictions repository's contract: what every store backend must do."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from replicast import ids, times
from replicast.predictions.status import Status
from replicast.store.predictions import UNSET, Change, PageQuery
from replicast.webhooks.delivery import Delivery, DeliveryState, WebhookEvent
from tests.contract.store.rows import make


async def test_a_prediction_round_trips_every_field(store, account):
    now = times.now()
    p = make(account.id, output={"a": [1, "x"]}, logs="line\n", error=None, started_at=now,
             completed_at=now + timedelta(seconds=1), deadline=now + timedelta(minutes=5),
             metrics={"predict_time": 0.5}, webhook="https://example.com/hook",
             webhook_events_filter=["start", "completed"], data_removed=True, attempt=2,
             source="api", version="hidden", upstream_id="upstream-1",
             api_prefix="/replicate/v1")
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


async def test_run_counts_by_model(store, account):
    for model in ["a/x", "a/x", "b/y"]:
        await store.predictions.insert(make(account.id, model=model))
    assert await store.predictions.run_counts() == {"a/x": 2, "b/y": 1}


async def test_counts_follow_every_change_of_status(store, account):
    """Kept as predictions change (not counted at each read): inserts, moves both ways,
    changes that leave the status alone, and many at once."""
    made = [make(account.id, model=model) for model in ["a/x"] * 30 + ["b/y"] * 5]
    await asyncio.gather(*(store.predictions.insert(p) for p in made))
    assert await store.predictions.status_counts() == {("a/x", "starting"): 30,
                                                       ("b/y", "starting"): 5}

    def move(p, old, new):
        return store.predictions.update(p.id, frozenset({old}), Change(status=new))

    await asyncio.gather(*(move(p, Status.STARTING, Status.PROCESSING) for p in made[:20]))
    await asyncio.gather(*(move(p, Status.PROCESSING, Status.SUCCEEDED) for p in made[:10]),
                         *(move(p, Status.PROCESSING, Status.STARTING) for p in made[10:15]),
                         *(move(p, Status.STARTING, Status.CANCELED) for p in made[30:32]))
    # A change that keeps the status, and one that loses its compare-and-set.
    await store.predictions.update(made[15].id, frozenset({Status.PROCESSING}),
                                   Change(logs="more"))
    assert await move(made[0], Status.STARTING, Status.FAILED) is None
    await store.predictions.remove_data([made[0].id])
    expected = {("a/x", "starting"): 15, ("a/x", "processing"): 5,
                ("a/x", "succeeded"): 10, ("b/y", "starting"): 3, ("b/y", "canceled"): 2}
    assert await store.predictions.status_counts() == expected
    assert await store.predictions.run_counts() == {"a/x": 30, "b/y": 5}
    if store.shared:  # PostgreSQL folds its log of changes into the counts now and then
        from replicast.store.postgres import counts

        assert await counts.fold(store._db) > 0
        assert await store._db.fetchval("SELECT count(*) FROM prediction_count_changes") == 0
        assert await store.predictions.status_counts() == expected
        await counts.vacuum(store._db)
        assert await counts.fold(store._db) == 0
        assert await store.predictions.status_counts() == expected


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


async def test_a_new_prediction_is_committed_with_the_deliveries_of_its_status(store, account):
    now = times.now()
    plain, limited = (make(account.id, status=Status.PROCESSING, started_at=now, attempt=1,
                           webhook="https://x.test/") for _ in range(2))

    def start_of(p):
        return [Delivery(id=ids.random_id(26), prediction_id=p.id, account_id=account.id,
                         event=WebhookEvent.START, url="https://x.test/", payload=b"{}",
                         created_at=now, next_attempt_at=now)]

    await store.predictions.insert(plain, start_of(plain))
    assert await store.predictions.insert_within(limited, 5, start_of(limited)) is None
    assert await store.predictions.insert_within(make(account.id), 2, start_of(plain)) == 2
    for p in (plain, limited):
        assert await store.predictions.get(p.id) == p
        assert [d.event for d, _ in await store.outbox.of_prediction(p.id)] == [
            WebhookEvent.START]
    assert len(await store.outbox.of_prediction(plain.id)) == 1  # the refused one added none


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
