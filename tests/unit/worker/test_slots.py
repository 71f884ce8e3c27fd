"""A model's slots: claims, stepping aside for a slow fetch, and running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from replicast.worker.slots import Slots


async def pending(awaitable) -> asyncio.Task:
    """``awaitable`` started, and shown not to be done after a few turns of the loop."""
    task = asyncio.ensure_future(awaitable)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    return task


@contextlib.contextmanager
def futures_made() -> Iterator[list[int]]:
    """Counts the futures the running loop makes meanwhile (``[count]``): a consumer woken
    for nothing makes one as it goes back to waiting. (``sleep(0)`` makes none.)"""
    loop = asyncio.get_running_loop()
    made = [0]
    real = loop.create_future

    def counted() -> asyncio.Future[Any]:
        made[0] += 1
        return real()

    loop.create_future = counted  # type: ignore[method-assign]
    try:
        yield made
    finally:
        del loop.create_future


async def test_a_claim_waits_for_a_free_unclaimed_slot():
    slots = Slots(1)
    first = await slots.claim()
    second = await pending(slots.claim())  # the one slot is spoken for
    first.release()
    assert (await asyncio.wait_for(second, 1)) is not None
    assert slots.claimed == 1


async def test_a_claim_runs_in_its_slot_and_frees_it_after():
    slots = Slots(1)
    claim = await slots.claim()
    async with claim.running():
        assert (slots.running, slots.claimed) == (1, 0)
        later = await pending(slots.claim())
    assert slots.running == 0
    # Handed on once its consumer is done with the prediction, not as the model returns:
    # the consumer it would wake would go ahead of the answer.
    await asyncio.sleep(0.01)
    assert not later.done()
    claim.release()
    await asyncio.wait_for(later, 1)
    claim.release()  # twice is once
    assert (slots.running, slots.claimed) == (0, 1)


async def test_a_run_that_outlives_its_consumer_hands_its_slot_on_as_it_ends():
    # A consumer may give up on a run that ignores a cancel: its release comes first.
    slots = Slots(1)
    claim = await slots.claim()
    run = claim.running()
    await run.__aenter__()
    later = await pending(slots.claim())
    claim.release()  # the consumer has gone on
    await asyncio.sleep(0.01)
    assert not later.done()  # the run still holds the slot
    await run.__aexit__(None, None, None)
    await asyncio.wait_for(later, 1)
    claim.release()
    assert (slots.running, slots.claimed) == (0, 1)


async def test_a_slow_fetch_steps_aside_and_runs_when_a_slot_is_free():
    slots = Slots(1)
    slow = await slots.claim()
    slow.step_aside()  # its files are still coming: the slot may be claimed again
    quick = await asyncio.wait_for(slots.claim(), 1)
    slow_run = slow.running()
    async with quick.running():
        waiting = await pending(slow_run.__aenter__())  # files in: waits its turn
        newcomer = await pending(slots.claim())  # and goes before any new claim
    quick.release()
    await asyncio.wait_for(waiting, 1)
    assert (slots.running, slots.waiting) == (1, 0)
    assert not newcomer.done()
    await slow_run.__aexit__(None, None, None)
    slow.release()
    await asyncio.wait_for(newcomer, 1)


async def test_a_wait_for_a_slot_that_is_canceled_leaves_the_counts_as_they_were():
    slots = Slots(1)
    slow = await slots.claim()
    slow.step_aside()
    holder = await slots.claim()
    slow_run = slow.running()
    async with holder.running():
        waiting = await pending(slow_run.__aenter__())
        assert slots.waiting == 1
        waiting.cancel()  # canceled while its files were in and it waited
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (slots.running, slots.claimed, slots.waiting) == (1, 0, 0)
    assert (slots.running, slots.claimed, slots.waiting) == (0, 0, 0)


async def test_releasing_twice_or_after_running_changes_nothing():
    slots = Slots(2)
    claim = await slots.claim()
    async with claim.running():
        pass
    claim.release()
    claim.release()
    assert (slots.running, slots.claimed, slots.waiting) == (0, 0, 0)


async def test_a_freed_slot_wakes_one_waiting_consumer_not_all_of_them():
    # Every consumer woken for nothing goes back to waiting: a new future each, and a
    # turn of the loop each, for every prediction.
    slots = Slots(1)
    first = await slots.claim()
    others = [await pending(slots.claim()) for _ in range(4)]
    with futures_made() as made:
        first.release()
        for _ in range(10):
            await asyncio.sleep(0)
    done = [task for task in others if task.done()]
    assert len(done) == 1
    assert made == [0]  # no consumer woke, found no room and waited again
    done[0].result().release()
    await asyncio.wait_for(asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED), 1)
    assert sum(task.done() for task in others) == 2


async def test_a_consumer_woken_and_canceled_passes_its_turn_on():
    slots = Slots(1)
    first = await slots.claim()
    woken, next_in_line = await pending(slots.claim()), await pending(slots.claim())
    first.release()  # wakes the first waiter...
    woken.cancel()  # ...which goes away before it takes the slot
    with pytest.raises(asyncio.CancelledError):
        await woken
    assert (await asyncio.wait_for(next_in_line, 1)) is not None
    assert slots.claimed == 1


async def test_a_claim_that_goes_on_to_run_wakes_no_waiting_consumer():
    slots = Slots(1)
    claim = await slots.claim()
    others = [await pending(slots.claim()) for _ in range(3)]
    with futures_made() as made:
        async with claim.running():  # the slot it claimed is the one it runs in
            for _ in range(10):
                await asyncio.sleep(0)
            assert made == [0] and not any(task.done() for task in others)
    claim.release()  # its consumer is done with the prediction: one consumer is woken
    await asyncio.wait_for(asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED), 1)
    assert sum(task.done() for task in others) == 1
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
