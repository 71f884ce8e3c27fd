"""eager(): a coroutine run at once in the caller's task, then in a task if it waits."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from replicast.eager import eager


async def test_a_coroutine_that_never_waits_is_done_at_once_as_a_task_of_its_own():
    caller = asyncio.current_task()
    ran_in = []

    async def quick() -> int:
        ran_in.append(asyncio.current_task())
        return 7

    future = eager(quick())

    assert future.done() and future.result() == 7  # no turn of the loop
    assert ran_in[0] is not None and ran_in[0] is not caller
    assert asyncio.current_task() is caller  # the caller is current again


async def test_its_first_step_runs_as_the_task_returned():
    seen = []
    gate = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        seen.append(asyncio.current_task())
        await gate
        seen.append(asyncio.current_task())

    future = eager(waits())
    gate.set_result(None)
    await asyncio.wait_for(future, 5)
    assert seen == [future, future]


async def test_a_timeout_entered_in_its_first_step_ends_it_and_not_its_caller():
    # asyncio.timeout binds itself to the current task: it must be the eager one.
    async def too_slow() -> str:
        try:
            async with asyncio.timeout(0.05):
                await asyncio.get_running_loop().create_future()
        except TimeoutError:
            return "timed out"
        return "unreached"

    future = eager(too_slow())
    assert await asyncio.wait_for(asyncio.shield(future), 5) == "timed out"
    await asyncio.sleep(0.1)  # the caller goes on, never canceled


async def test_what_its_first_step_sets_in_context_variables_stays_its_own():
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="caller")

    async def sets() -> str:
        variable.set("eager")
        await asyncio.sleep(0)
        return variable.get()

    future = eager(sets())
    assert variable.get() == "caller"
    assert await asyncio.wait_for(future, 5) == "eager"


async def test_an_error_raised_before_any_wait_is_the_futures():
    async def broken() -> None:
        raise ValueError("no")

    future = eager(broken())
    assert future.done()
    with pytest.raises(ValueError, match="no"):
        future.result()


async def test_a_coroutine_that_waits_goes_on_in_a_task_from_where_it_stopped():
    steps = []
    gate = asyncio.get_running_loop().create_future()

    async def two_steps() -> str:
        steps.append("before")
        value = await gate
        steps.append(f"after {value}")
        await asyncio.sleep(0)  # a bare yield, too
        return "done"

    future = eager(two_steps())
    assert steps == ["before"]  # its first step ran at once
    assert isinstance(future, asyncio.Task) and not future.done()
    gate.set_result("opened")
    assert await asyncio.wait_for(future, 5) == "done"
    assert steps == ["before", "after opened"]


async def test_the_error_of_what_it_waited_on_reaches_it_and_it_may_go_on():
    gate = asyncio.get_running_loop().create_future()

    async def tolerant() -> str:
        try:
            await gate
        except KeyError:
            await asyncio.sleep(0)
            return "recovered"
        return "unreached"

    future = eager(tolerant())
    gate.set_exception(KeyError("k"))
    assert await asyncio.wait_for(future, 5) == "recovered"


@pytest.mark.parametrize("started", [True, False], ids=["waiting", "before-first-step"])
async def test_canceling_the_task_cancels_the_coroutine_where_it_waits(started):
    # Before the task's own first step too: the coroutine has run up to its wait already.
    gate = asyncio.get_running_loop().create_future()
    seen = []

    async def waits() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("canceled")
            raise
        finally:
            seen.append("left")

    future = eager(waits())
    if started:
        await asyncio.sleep(0)
    future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await future
    assert seen == ["canceled", "left"]
    assert gate.cancelled()  # as a task's cancel leaves what its coroutine waited on


async def test_a_shielded_eager_step_finishes_when_its_caller_is_canceled():
    # As the worker uses it: a consumer stopped during a commit that had to wait.
    gate = asyncio.get_running_loop().create_future()
    finished = []

    async def commit() -> str:
        await gate
        finished.append(True)
        return "committed"

    async def caller() -> str:
        step = eager(commit())
        return step.result() if step.done() else await asyncio.shield(step)

    started = []

    async def run_caller() -> str:
        started.append(True)
        return await caller()

    task = asyncio.ensure_future(run_caller())
    await asyncio.sleep(0)
    assert started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set_result(None)
    for _ in range(5):
        await asyncio.sleep(0)
    assert finished == [True]


async def test_a_first_wait_that_only_gives_the_loop_a_turn():
    async def polite() -> int:
        await asyncio.sleep(0)
        return 3

    future = eager(polite())
    assert not future.done()
    assert await asyncio.wait_for(future, 5) == 3


async def test_a_first_step_that_cancels_its_own_task_ends_canceled():
    async def cancels_itself() -> int:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        return 1

    future = eager(cancels_itself())
    assert future.cancelled()
