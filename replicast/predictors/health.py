"""A predictor's own ``healthcheck()``, called in its process as Cog calls it
(``HealthCheck``), and asked for by the server (``Questions``).

The server asks for it (a ``healthcheck`` command) only while no prediction runs. A
plain ``healthcheck()`` runs in a thread of its own and an ``async`` one on the process's
event loop, each given ``timeout`` seconds, so that a check that hangs cannot keep the
process from answering. It fails when it returns ``False``, raises, or takes longer; the
reasons are worded as Cog words them (``user_healthcheck_error``). One that still runs
when the next check is asked for is waited for again, not called a second time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable
from typing import Any

RETURNED_FALSE = "Healthcheck failed: user-defined healthcheck returned False"
_CANCEL_GRACE = 0.1
"""Seconds an ``async`` check that ran out of time gets to unwind once canceled."""


def timed_out(timeout: float) -> str:
    """Why a check that took longer than ``timeout`` seconds failed."""
    return f"Healthcheck failed: user-defined healthcheck timed out after {timeout:.1f} seconds"


def raised(description: str) -> str:
    """Why a check that raised failed (``description``: ``ValueError: disk gone``)."""
    return f"Healthcheck failed: {description}"


def healthcheck_of(predictor: Any) -> Callable[[], Any] | None:
    """The predictor's ``healthcheck`` method, if it has one."""
    method = getattr(predictor, "healthcheck", None)
    return method if callable(method) else None


class HealthCheck:
    """Calls one predictor's ``healthcheck()``."""

    def __init__(self, method: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.method = method
        self.loop = loop
        self.is_async = inspect.iscoroutinefunction(method)
        self._thread_call: concurrent.futures.Future[Any] | None = None
        self._task: asyncio.Task[Any] | None = None

    def run(self, timeout: float) -> str | None:
        """None if the check passes, else why not; what it raised is raised here."""
        try:
            result = self._await(timeout) if self.is_async else self._in_thread(timeout)
        except _TimedOut:
            return timed_out(timeout)
        return RETURNED_FALSE if _is_false(result) else None

    def _in_thread(self, timeout: float) -> Any:
        call = self._thread_call
        if call is None or call.done():
            call = self._thread_call = concurrent.futures.Future()
            # A daemon thread, not an executor's: a check that never returns must not keep
            # the process from exiting.
            threading.Thread(target=_settle, args=(call, self.method), name="healthcheck",
                             daemon=True).start()
        done, _ = concurrent.futures.wait([call], timeout)
        if not done:
            raise _TimedOut
        return call.result()

    def _await(self, timeout: float) -> Any:
        task = self._task
        if task is None or task.done():
            task = self._task = self.loop.create_task(_call(self.method))
        done, _ = self.loop.run_until_complete(asyncio.wait({task}, timeout=timeout))
        if not done:
            task.cancel()
            self.loop.run_until_complete(asyncio.wait({task}, timeout=_CANCEL_GRACE))
            raise _TimedOut
        return task.result()


class _TimedOut(Exception):
    pass


def _settle(future: concurrent.futures.Future[Any], method: Callable[[], Any]) -> None:
    try:
        future.set_result(method())
    except BaseException as exc:  # SystemExit too: it fails the check, not the process
        future.set_exception(exc)


async def _call(method: Callable[[], Any]) -> Any:
    return await method()


def _is_false(result: Any) -> bool:
    """Whether a check's result fails it: only ``False`` does (numpy's too), as in Cog."""
    return result is False or (type(result).__name__ == "bool_" and not result)


ANSWER_GRACE = 2.0
"""Seconds the server waits for a process's answer beyond the check's own timeout."""


class Questions:
    """The server's side: the check asked of one process, until it answers.

    A process that has not answered within the check's timeout and ``ANSWER_GRACE``
    (an ``async`` check that blocks its event loop) counts as failing it; it is asked
    nothing more until its answer comes.
    """

    def __init__(self) -> None:
        self._asked = 0
        self._waiting: tuple[int, asyncio.Future[str | None]] | None = None

    @property
    def unanswered(self) -> bool:
        """Whether a check asked has not been answered yet."""
        return self._waiting is not None

    async def ask(self, send: Callable[[dict[str, Any]], object], timeout: float) -> str | None:
        """Ask for a check through ``send``: None if it passed, else why not."""
        self._asked += 1
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting = (self._asked, answer)
        send({"type": "healthcheck", "id": self._asked, "timeout": timeout})
        try:
            return await asyncio.wait_for(answer, timeout + ANSWER_GRACE)
        except TimeoutError:
            return ("Healthcheck failed: the predictor's process did not answer within "
                    f"{timeout + ANSWER_GRACE:g} seconds")

    def answered(self, message: dict[str, Any]) -> None:
        """A ``health`` message from the process."""
        if self._waiting is None or self._waiting[0] != message.get("id"):
            return
        answer = self._waiting[1]
        self._waiting = None
        if not answer.done():
            error = message.get("error")
            answer.set_result(None if error is None else str(error))

    def forget(self) -> None:
        """The process has ended: a wait for its answer ends (as if it had passed)."""
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_result(None)
        self._waiting = None
