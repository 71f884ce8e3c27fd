"""The server's side of a predictor: a child process, kept running, one prediction at a time.

``PredictorRunner.start()`` starts the child and returns once it has reported its
schema; setup goes on in the background and is visible in ``setup_report()``.
Predictions wait for setup; if it failed they fail at once, saying so.

A cancel (or a deadline, or the predict timeout), and any failure on the server's
side while the child still runs a prediction, asks the child to stop it; if it has
not within ``stop_grace`` seconds the child is killed. A child that dies, however
it dies, fails the prediction it was running and is started again (setup
included), after a pause that grows while it keeps dying; one that dies
``CRASH_LIMIT`` times in a row within minutes of its setup is left failed.

A predictor with a ``healthcheck()`` has it called at once after setup, then every
``health_interval`` seconds while no prediction runs (a run keeps the last result).
While the last one failed, the runner is ``UNHEALTHY``: the worker leaves its
predictions queued until a check passes.

Where the process stands is ``PredictorRunner.state``, changed only through
``_enter`` and checked against the transitions of ``predictors.state``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replicast import times
from replicast.errors import ModelError
from replicast.models.base import Health, RunContext, Runner
from replicast.models.file_inputs import file_inputs
from replicast.predictors.files import InputFolder, OutputFiles
from replicast.predictors.health import Questions
from replicast.predictors.process import ChildProcess, ProtocolError, Text, exit_reason
from replicast.predictors.protocol import SETUP
from replicast.predictors.signature import is_iterator_output
from replicast.predictors.spec import PredictorSpec
from replicast.predictors.state import (
    LOADING,
    PAUSED,
    SET_UP,
    UNBLOCKED,
    SetupReport,
    State,
    check_transition,
)

log = logging.getLogger(__name__)

CRASH_LIMIT = 5
"""Deaths in a row, each soon after setup, after which the predictor is left failed."""
_STABLE_SECONDS = 120.0
"""A process that lived this long after setup resets the count of deaths in a row."""
_RESTART_PAUSE_MAX = 30.0


@dataclass(frozen=True)
class Description:
    """What the child reported about the predictor before setup."""

    schema: dict[str, Any] | None
    """None when the predictor could not even be loaded."""
    description: str | None


@dataclass
class _Call:
    """The prediction the child is running: its messages and logs, in the child's order."""

    prediction_id: str
    context: RunContext
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    finished: bool = False
    """Whether the child has said it is done with it (or has died)."""


class PredictorRunner(Runner):
    """Runs one predictor's predictions in a child process."""

    served_by = "predictor"
    pauses = True  # while unhealthy

    def __init__(self, spec: PredictorSpec, *, setup_timeout: float, stop_grace: float = 5.0,
                 restart_pause: float = 2.0, describe_only: bool = False,
                 health_interval: float = 10.0, health_timeout: float = 5.0) -> None:
        self.spec = spec
        self.restart_pause = restart_pause
        """The pause before the second start in a row after a death; it doubles after."""
        self.setup_timeout = setup_timeout
        self.stop_grace = stop_grace
        self.describe_only = describe_only
        self.health_interval = health_interval
        """Seconds between two calls of the predictor's ``healthcheck()``."""
        self.health_timeout = health_timeout
        """Seconds one call of it may take before it counts as failed."""
        self.file_inputs: dict[str, bool] = {}
        """Inputs that are files: name to whether it is a list of files."""
        self.iterator_output = False
        """Whether the output is produced item by item (read from the schema)."""
        self.state = State.NEW
        self._closed_in = State.NEW  # the state ``close`` found
        self._report = SetupReport()
        self._ready = asyncio.Event()  # set in the states of UNBLOCKED
        self._pause_watchers: set[Callable[[], None]] = set()  # told on entering PAUSED
        self._questions = Questions()  # the healthcheck asked of the process
        self._slot = asyncio.Lock()
        self._child: ChildProcess | None = None
        self._schema: dict[str, Any] | None = None
        self._described: asyncio.Future[Description] | None = None
        self._current: _Call | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._setup_timer: asyncio.TimerHandle | None = None
        self._respawning: asyncio.Task[None] | None = None
        self._deaths = 0
        self._ready_since = 0.0

    # lifecycle

    def _enter(self, new: State) -> None:
        """Change state (``IllegalTransition`` if the table has no such change); predictions
        wait in every state but those of ``UNBLOCKED`` (closing leaves them as they were)."""
        check_transition(self.state, new)
        self.state = new
        if new in UNBLOCKED:
            self._ready.set()
        elif new is not State.CLOSING:
            self._ready.clear()
        if new in PAUSED:
            for watcher in tuple(self._pause_watchers):
                watcher()

    async def start(self) -> Description:
        """Start the child; its description once it has loaded the predictor."""
        description = await self._spawn()
        self._schema = description.schema
        if description.schema is not None:
            self.file_inputs = file_inputs(description.schema)
            self.iterator_output = is_iterator_output(description.schema)
        return description

    async def close(self) -> None:
        """Stop the child (an idle one exits at once; a busy one is killed) and wait."""
        if self.state is not State.CLOSING:
            self._closed_in = self.state
            self._enter(State.CLOSING)
        if self._respawning is not None:  # it kills what it starts once it sees CLOSING
            self._respawning.cancel()
            await asyncio.gather(self._respawning, return_exceptions=True)
        if self._child is not None:
            await self._child.close(grace=0.5 if self._current is not None else 2.0)
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def setup_report(self) -> dict[str, Any] | None:
        # A process that only describes the predictor does not set it up.
        return None if self.describe_only else self._report.as_json()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _spawn(self) -> Description:
        loop = asyncio.get_running_loop()
        self._described = loop.create_future()
        self._enter(State.DESCRIBING)
        restarts = self._report.restarts + (1 if self._child is not None else 0)
        self._report = SetupReport(restarts=restarts)
        try:
            child = await ChildProcess.spawn(self.spec, describe_only=self.describe_only)
        except OSError as exc:
            self._setup_failed(f"Could not start the predictor's process: {exc}")
            return Description(None, None)
        if self.state is State.CLOSING:
            await child.close(grace=0)
            return Description(None, None)
        self._child = child
        self._run_in_background(self._follow_child(child))
        self._setup_timer = loop.call_later(self.setup_timeout, self._setup_too_long, child)
        # Settled by the schema, by a failure, by the process's end or by the setup timer.
        return await asyncio.shield(self._described)

    def _setup_too_long(self, child: ChildProcess) -> None:
        if self.state in LOADING and child is self._child:
            self._setup_failed(f"Setup did not finish within {self.setup_timeout:g} seconds")
            child.kill()

    def _setup_failed(self, error: str) -> None:
        log.error("%s: setup failed: %s", self.spec.name, error)
        self._cancel_setup_timer()
        self._report.status, self._report.error = "failed", error
        self._report.completed_at = times.now()
        self._settle(Description(None, None))
        if self.state is State.CLOSING or self.state is State.FAILED:
            self._ready.set()  # a setup cut short by a close: whoever waits learns why
        else:
            self._enter(State.FAILED)

    def _settle(self, description: Description) -> None:
        if self._described is not None and not self._described.done():
            self._described.set_result(description)

    # what the child says

    async def _follow_child(self, child: ChildProcess) -> None:
        try:
            async for event in child.events():
                if child is not self._child:
                    continue
                if isinstance(event, Text):
                    self._log(event.owner, event.text)
                else:
                    self._dispatch(event)
        except ProtocolError as exc:
            log.error("%s: %s; stopping the predictor's process", self.spec.name, exc)
            child.kill()
        except Exception:
            log.exception("%s: could not follow the predictor's process; stopping it",
                          self.spec.name)
            child.kill()
        finally:
            code = await child.wait()
            self._ended(child, code)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "schema":
            self._settle(Description(message["schema"], message.get("description")))
            if self.describe_only:
                self._cancel_setup_timer()  # it exits now: nothing more to wait for
            if self.state is State.DESCRIBING:
                self._enter(State.DESCRIBED if self.describe_only else State.SETTING_UP)
        elif kind == "ready":
            if self.state is not State.SETTING_UP:
                return  # too late: the setup timer has already failed it (or a close)
            self._cancel_setup_timer()
            self._report.status = "succeeded"
            self._report.completed_at = times.now()
            self._ready_since = time.monotonic()
            checked = bool(message.get("healthcheck"))
            self._report.health = None if checked else Health()  # none: always healthy
            self._enter(State.READY)
            log.info("%s: set up in %.1f s", self.spec.name,
                     (self._report.completed_at - self._report.started_at).total_seconds())
            if checked and self._child is not None:
                self._run_in_background(self._watch_health(self._child))
        elif kind == "setup_failed":
            self._setup_failed(message["error"])
        elif kind == "health":
            self._questions.answered(message)
        elif kind in ("output", "done"):
            call = self._current
            if call is not None and call.prediction_id == message.get("id"):
                call.messages.put_nowait(message)

    def _log(self, owner: str, text: str) -> None:
        call = self._current
        if call is not None and owner == call.prediction_id:
            # Through the call's queue, so that text and items keep the child's order.
            call.messages.put_nowait({"type": "log", "text": text})
        elif owner == SETUP:
            self._report.add_logs(text)
            for line in text.rstrip("\n").splitlines():
                log.info("%s setup: %s", self.spec.name, line)
        else:  # between predictions (a thread of the predictor), or after a cancel
            for line in text.rstrip("\n").splitlines():
                log.info("%s: %s", self.spec.name, line)

    def _ended(self, child: ChildProcess, code: int) -> None:
        """The child has exited: fail what it was doing, and start another."""
        if child is not self._child:
            return
        self._cancel_setup_timer()
        self._report.health = None
        self._questions.forget()
        closing = self.state is State.CLOSING
        state = self._closed_in if closing else self.state
        if state in LOADING:
            when = "while loading" if self.describe_only else "during setup"
            self._setup_failed(f"The predictor's process {exit_reason(code)} {when}")
            return  # a setup that failed is not tried again: the model shows why
        if state not in SET_UP:
            return  # it only described the predictor, or had failed already
        if self._current is not None:
            self._current.messages.put_nowait({"type": "exit", "code": code})
        if closing:
            return
        lived = time.monotonic() - self._ready_since
        self._deaths = 1 if lived >= _STABLE_SECONDS else self._deaths + 1
        if self._deaths >= CRASH_LIMIT:
            self._setup_failed(f"The predictor's process died {self._deaths} times in a row "
                               f"(last: it {exit_reason(code)}); it is not started again")
            return
        pause = 0.0 if self._deaths == 1 else min(
            _RESTART_PAUSE_MAX, self.restart_pause * 2 ** (self._deaths - 2))
        log.warning("%s: the predictor's process %s; starting it again%s", self.spec.name,
                    exit_reason(code), f" in {pause:g} s" if pause else "")
        self._enter(State.RESPAWNING)  # predictions wait for the new process's setup
        self._respawning = asyncio.create_task(self._respawn(pause))

    async def _respawn(self, pause: float) -> None:
        await asyncio.sleep(pause)
        description = await self._spawn()
        if description.schema is not None and description.schema != self._schema:
            log.warning("%s: the predictor's inputs or output changed since the server "
                        "started; restart the server to publish them", self.spec.name)

    # health

    def health(self) -> Health | None:
        return self._report.health

    @property
    def paused(self) -> bool:
        return self.state in PAUSED

    def on_pause(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._pause_watchers.add(callback)
        return lambda: self._pause_watchers.discard(callback)

    async def _watch_health(self, child: ChildProcess) -> None:
        """Check the predictor's health at once, then every ``health_interval`` seconds
        while it is idle, for as long as ``child`` is its process."""
        while child is self._child and child.running:
            if self.state in (State.READY, State.UNHEALTHY) and self._current is None \
                    and not self._questions.unanswered:
                await self._check_health(child)
            await asyncio.sleep(self.health_interval)

    async def _check_health(self, child: ChildProcess) -> None:
        """Ask ``child`` for a check: ``READY`` if it passes, ``UNHEALTHY`` if not."""
        was = self.state
        self._enter(State.CHECKING)  # predictions wait for the answer
        error = await self._questions.ask(child.send, self.health_timeout)
        if self.state is not State.CHECKING or child is not self._child:
            return  # its process has died meanwhile, or the server is closing
        self._report.health = Health(error, times.now())
        if error is None:
            if was is State.UNHEALTHY:
                log.info("%s: healthy again", self.spec.name)
            self._enter(State.READY)
        else:
            if was is not State.UNHEALTHY:
                log.warning("%s: unhealthy, its predictions wait: %s", self.spec.name, error)
            self._enter(State.UNHEALTHY)

    def _cancel_setup_timer(self) -> None:
        if self._setup_timer is not None:
            self._setup_timer.cancel()
            self._setup_timer = None

    def _run_in_background(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # predictions

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        await self._slot.acquire()
        handed_over = False  # whether a winding-down task now owns the slot
        folder = InputFolder()
        try:
            arguments = await folder.materialize(context, inputs, self.file_inputs)
            while not self._ready.is_set():  # loading, starting again, or winding down
                await self._ready.wait()
            if self._report.status != "succeeded":
                raise ModelError(f"The model's setup failed: {self._report.error}. "
                                 f"GET /v1/models/{self.spec.name} shows its logs.")
            # No await from the check above to here: the process is the one that is ready.
            call = _Call(context.prediction_id, context)
            self._current = call
            self._send({"type": "predict", "id": call.prediction_id, "input": arguments,
                        "context": context.context})
            try:
                return await self._follow(call)
            except BaseException:
                if not call.finished:  # canceled, or failed on this side: stop the child's run
                    handed_over = True
                    self._run_in_background(self._wind_down(call, folder))
                raise
        finally:
            if not handed_over:
                self._current = None
                self._slot.release()
                if folder.path is not None:
                    self._run_in_background(folder.remove())

    def _send(self, message: dict[str, Any]) -> None:
        if self._child is None or not self._child.send(message):
            raise ModelError("The predictor's process is not running")

    async def _follow(self, call: _Call) -> Any:
        """Relay the prediction's logs and output items; its output once it is done."""
        outputs = OutputFiles(call.context)
        items: list[Any] = []
        while True:
            message = await call.messages.get()
            kind = message["type"]
            call.finished = kind in ("done", "exit")
            if kind == "log":
                call.context.log(message["text"])
            elif kind == "output":
                item = await outputs.to_urls(message["item"])
                items.append(item)
                await call.context.emit(item)
            elif kind == "exit":
                raise ModelError(
                    f"The predictor's process {exit_reason(message['code'])} while running "
                    "this prediction; it is being started again")
            else:
                for name, value in (message.get("metrics") or {}).items():
                    call.context.record_metric(name, value)
                if message.get("canceled"):
                    raise asyncio.CancelledError()  # the model canceled itself
                if "error" in message:
                    raise ModelError(message["error"])
                if self.iterator_output:
                    return items
                return await outputs.to_urls(message.get("output"))

    async def _wind_down(self, call: _Call, folder: InputFolder) -> None:
        """Stop the child's run of ``call`` (or the child), then free the slot."""
        if self.state is State.READY:  # (not if its process died meanwhile)
            self._enter(State.WINDING_DOWN)  # nothing new is taken while the run stops
        child = self._child
        try:
            try:
                await asyncio.wait_for(self._interrupt(call, child), self.stop_grace)
            except TimeoutError:
                if child is not None:
                    log.warning("%s: prediction %s did not stop within %g s; killing the "
                                "predictor's process", self.spec.name, call.prediction_id,
                                self.stop_grace)
                    child.kill()
                    await _until_finished(call)
        finally:
            self._current = None
            self._slot.release()
            if self.state is State.WINDING_DOWN and child is self._child \
                    and child is not None and child.running:
                self._enter(State.READY)
            await folder.remove()

    async def _interrupt(self, call: _Call, child: ChildProcess | None) -> None:
        """Signal the child until it reports the prediction over (a signal that lands
        just before the prediction begins in the child is ignored there)."""
        finished = asyncio.ensure_future(_until_finished(call))
        try:
            while child is not None and not finished.done():
                child.interrupt()
                await asyncio.wait({finished}, timeout=0.5)
            await finished
        finally:
            finished.cancel()


async def _until_finished(call: _Call) -> None:
    if call.finished:
        return
    while (await call.messages.get())["type"] not in ("done", "exit"):
        pass
    call.finished = True
