"""``eager(coroutine)``: a coroutine started at once, in the caller's task.

``asyncio.ensure_future`` runs nothing of a coroutine before the loop's next turn, and
its result reaches the awaiting task one more turn later: two turns of the loop, and a
task, for a step that usually never waits (a commit on SQLite's inline connection). Here
the coroutine runs at once, in the caller's task, up to the first time it waits; if it
never waits, the future returned is done already and no task was made. If it does wait,
a task goes on with it from there, as a task made for it would have, so that the caller
can shield it (``asyncio.shield``) from its own cancellation. Python 3.12's eager task
factory does this for every task; this is that, for the one step that needs it.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def eager(coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Run ``coroutine`` now, up to its first wait: its result as a future, done already
    if it never waited (no task made), else a task that goes on with it."""
    loop = asyncio.get_running_loop()
    try:
        waited = coroutine.send(None)
    except StopIteration as finished:
        done: asyncio.Future[T] = loop.create_future()
        done.set_result(finished.value)
        return done
    except (KeyboardInterrupt, SystemExit):
        raise  # as a task would: these do not wait in a future
    except asyncio.CancelledError:
        done = loop.create_future()
        done.cancel()
        return done
    except BaseException as error:
        done = loop.create_future()
        done.set_exception(error)
        return done
    rest = _resumed(coroutine, waited)
    rest.send(None)  # primed: a cancel before the task's first step reaches the coroutine
    return asyncio.ensure_future(rest)


@types.coroutine
def _resumed(coroutine: Coroutine[Any, Any, T], waited: Any) -> Generator[Any, Any, T]:
    """The rest of ``coroutine``, which waits on ``waited``: what ``yield from`` does, for
    a coroutine already started (whose first wait was not yielded to a task)."""
    try:
        yield  # where ``eager`` leaves it; the task's first step goes on from here
    except GeneratorExit:
        coroutine.close()
        raise
    except BaseException as thrown:  # canceled before its first step
        if isinstance(waited, asyncio.Future):
            waited.cancel()  # as a task's cancel does to the future it waits on
        try:
            waited = coroutine.throw(thrown)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
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
