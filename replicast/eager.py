"""``eager(coroutine)``: a task whose first step runs at once, not at the loop's next turn.

``asyncio.ensure_future`` runs nothing of a coroutine before the loop's next turn, and its
result reaches the task awaiting it one turn later still: two turns of the loop for a step
that usually never waits (a commit on SQLite's inline connection, a command written to a
predictor's process). ``eager`` starts the task's coroutine at once, up to its first wait,
as the task: ``asyncio.current_task()`` is the new task, its context a copy of the
caller's, so that what binds itself to the current task there (``asyncio.timeout``, a
``TaskGroup``) binds to the right one. If it never waited, the future returned is done
already. Python 3.12's ``Task(eager_start=True)`` does exactly this; on 3.11 it is done
here, with asyncio's own ``_enter_task`` and ``_leave_task`` (what a task's step calls).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def eager(coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """A task for ``coroutine``, its first step run now: done already if it never
    waited (its result or error then in the future returned)."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coroutine, loop=loop, eager_start=True)  # type: ignore[call-arg]
    first = _First()
    rest = _rest(coroutine, first)
    context = contextvars.copy_context()
    task: asyncio.Task[Any] = asyncio.Task(rest, loop=loop, context=context)
    caller = asyncio.current_task(loop)
    if caller is not None:
        asyncio.tasks._leave_task(loop, caller)
    asyncio.tasks._enter_task(loop, task)
    try:
        context.run(rest.send, None)  # the first step: it stops at its first yield
    finally:
        asyncio.tasks._leave_task(loop, task)
        if caller is not None:
            asyncio.tasks._enter_task(loop, caller)
    if not first.done:
        return task  # waiting: the task goes on with it
    if isinstance(first.error, (KeyboardInterrupt, SystemExit)):
        raise first.error  # as a task's step would: these do not wait in a future
    done: asyncio.Future[T] = loop.create_future()
    if isinstance(first.error, asyncio.CancelledError) or task.cancelling():
        done.cancel()  # (a step that canceled its own task ends canceled, as a task does)
    elif first.error is not None:
        done.set_exception(first.error)
    else:
        done.set_result(first.value)
    return done


class _First:
    """How the coroutine's first step went."""

    __slots__ = ("done", "error", "value", "waited")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.waited: Any = None


@types.coroutine
def _rest(coroutine: Coroutine[Any, Any, T], first: _First) -> Generator[Any, Any, T | None]:
    """The task's own coroutine: the first step of ``coroutine`` (run by ``eager`` as the
    task), then what ``yield from`` does, for a coroutine already started."""
    try:
        first.waited = coroutine.send(None)
    except StopIteration as finished:
        first.done, first.value = True, finished.value
    except BaseException as error:
        first.done, first.error = True, error
    waited = first.waited
    try:
        yield  # back to ``eager``; the task's first step goes on from here
    except GeneratorExit:
        coroutine.close()
        raise
    except BaseException as thrown:  # canceled before its first step
        if first.done:
            raise
        if isinstance(waited, asyncio.Future):
            waited.cancel()  # as a task's cancel does to the future it waits on
        try:
            waited = coroutine.throw(thrown)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
    if first.done:
        return None  # ``eager`` answered with the outcome: nothing is left to do
    while True:
        try:
            sent = yield waited
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as thrown:  # a cancel, thrown by the task
            try:
                waited = coroutine.throw(thrown)
            except StopIteration as finished:
                return finished.value  # type: ignore[no-any-return]
            continue
        try:
            waited = coroutine.send(sent)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
