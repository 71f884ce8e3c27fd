"""The process a predictor runs in: ``python -m replicast.predictors.child [--describe] FD REF``.

It loads ``REF`` (``path/to/predict.py:Predictor``), reports its schema on file
descriptor ``FD``, runs ``setup()`` once, then runs predictions one at a time as the
server sends them on stdin (see ``protocol``), and between them the predictor's
``healthcheck()`` when the server asks (see ``health``). Its stdout and stderr are a pipe the
server reads: all the predictor writes there, from Python or from C, becomes the
logs of the prediction running (or of setup), and survives a crash.

A cancel interrupts a running prediction: ``CancelationException`` is raised in it
by a signal handler (so a ``time.sleep`` or a blocking read is interrupted too, as
in Cog), or its task is canceled if it is async. Whatever happens in user code,
only this process suffers: the server sees a failed prediction, a failed setup, or
this process's end, and starts another. With ``--describe`` it only reports the
schema and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import faulthandler
import gc
import importlib.util
import inspect
import io
import logging
import os
import pathlib
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

from replicast.predictors import health, sdk
from replicast.predictors.protocol import FILE_KEY, Channel, Reader
from replicast.predictors.signature import Parameter, describe, entry_point
from replicast.predictors.unions import union_value

_PR_SET_PDEATHSIG = 1
_PR_SET_TIMERSLACK = 29


class Outbox:
    """Messages to the server, after whatever the predictor has written before them."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=True, write_through=True)

    def send(self, message: dict[str, Any]) -> None:
        self.send_encoded(Channel.encode(message))

    def send_encoded(self, data: bytes) -> None:
        """Flush what Python holds of stdout and stderr, then send (made by ``encode``)."""
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 (contextlib.suppress: 1.3 µs more a message, four a prediction)
                stream.flush()
            except Exception:  # a predictor may have replaced them
                pass
        self.channel.send_encoded(data)


def load(ref: str) -> Any:
    """The predictor object ``path.py:Name`` names (classes are instantiated)."""
    path, _, name = ref.rpartition(":")
    if not path or not name:
        raise ValueError(f"{ref!r} is not of the form path/to/predict.py:Name")
    file = pathlib.Path(path).resolve()
    # The working folder (a Cog project's root, as /src in its image) comes first on
    # the import path, then the file's own folder.
    for folder in dict.fromkeys([str(file.parent), os.getcwd()]):
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    try:
        found = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"{file.name} defines no {name!r}") from None
    return found() if inspect.isclass(found) else found


def _use_our_scope() -> type[BaseException]:
    """Route Cog's metrics to our scope; the exception a cancel raises in user code."""
    if "cog" not in sys.modules:
        return sdk.CancelationException
    coglet = importlib.import_module("coglet")
    coglet._sdk.current_scope = sdk.current_scope
    exception: type[BaseException] = coglet.CancelationException
    return exception


class Child:
    """Runs the predictor's setup and predictions."""

    def __init__(self, ref: str, commands: Reader, out: Outbox) -> None:
        self.ref = ref
        self.commands = commands
        self.out = out
        self.loop = asyncio.new_event_loop()
        self.running: str | None = None
        self.cancel_requested: str | None = None
        self.interruptible = False
        self.task: asyncio.Task[Any] | None = None
        self.cancel_exception: type[BaseException] = sdk.CancelationException
        self.parameters: list[Parameter] = []
        self.healthcheck: health.HealthCheck | None = None

    def describe(self) -> dict[str, Any] | None:
        """Load the predictor and send its schema; None (and ``setup_failed``) if it fails."""
        try:
            self.predictor = load(self.ref)
            self.function = entry_point(self.predictor)
            schema, self.parameters = describe(self.function)
            self.cancel_exception = _use_our_scope()
        except BaseException as exc:
            _print_user_traceback(exc)
            self.out.send({"type": "setup_failed", "error": _one_line(exc)})
            return None
        self.out.send({"type": "schema", "schema": schema,
                       "description": _summary(self.predictor)})
        return schema

    def main(self) -> int:
        if self.describe() is None:
            return 1
        signal.signal(signal.SIGUSR1, self._on_cancel_signal)
        try:
            self._setup(getattr(self.predictor, "setup", None))
            self.cancel_exception = _use_our_scope()  # cog may be imported only by setup
        except BaseException as exc:
            _print_user_traceback(exc)
            self.out.send({"type": "setup_failed", "error": _one_line(exc)})
            return 1
        method = health.healthcheck_of(self.predictor)
        if method is not None:
            self.healthcheck = health.HealthCheck(method, self.loop)
        # The predictor and what its setup loaded stay for the process's life: out of the
        # collector's full passes, which would walk them all again between predictions
        # (what the setup left as garbage is collected first, or it would stay for ever).
        gc.collect()
        gc.freeze()
        # Text after it is nobody's: "idle".
        self.out.send({"type": "ready", "healthcheck": method is not None})
        while (command := self.commands.receive()) is not None:
            if command.get("type") == "healthcheck":
                self._check_health(command)
            else:
                self._predict(command)
        return 0  # the server closed our stdin: it is stopping, or gone

    def _check_health(self, command: dict[str, Any]) -> None:
        """Call the predictor's ``healthcheck()``; send whether it passed (no ``error``)."""
        error = None
        if self.healthcheck is not None:
            try:
                error = self.healthcheck.run(float(command["timeout"]))
            except BaseException as exc:
                error = health.raised(_one_line(exc))
        self.out.send({"type": "health", "id": command["id"], "error": error})

    def _setup(self, setup: Any) -> None:
        if setup is None:
            return
        kwargs = {}
        if "weights" in inspect.signature(setup).parameters:
            weights = os.environ.get("COG_WEIGHTS") or ("weights" if os.path.exists("weights")
                                                        else None)
            kwargs["weights"] = weights
        result = setup(**kwargs)
        if inspect.isawaitable(result):
            self.loop.run_until_complete(_await(result))

    def _on_cancel_signal(self, signum: int, frame: Any) -> None:
        """SIGUSR1 from the server: stop the prediction running, if any.

        Runs on the main thread, between two instructions of whatever runs there (or
        interrupting a blocking call). The server sends it only while the prediction it
        means runs or has just finished, never once it has sent the next one.
        """
        if self.running is None:
            return
        self.cancel_requested = self.running
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        elif self.interruptible:
            raise self.cancel_exception()

    def _predict(self, command: dict[str, Any]) -> None:
        prediction_id = command["id"]
        self.out.send({"type": "owner", "owner": prediction_id})
        self.running = prediction_id
        scope = sdk.enter_scope(command.get("context") or {})
        outcome: dict[str, Any] = {"type": "done", "id": prediction_id}
        try:
            arguments = self._arguments(command["input"])
            self.interruptible = True
            try:
                if self.cancel_requested == prediction_id:  # it came before now
                    raise self.cancel_exception()
                outcome["output"] = self._collect(prediction_id, self.function(**arguments))
            finally:
                self.interruptible = False
        except (self.cancel_exception, asyncio.CancelledError):
            outcome["canceled"] = True
        except BaseException as exc:  # SystemExit and KeyboardInterrupt fail it too
            _print_user_traceback(exc)
            outcome["error"] = _one_line(exc)
        finally:
            self.running, self.task, self.cancel_requested = None, None, None
        outcome["metrics"] = dict(scope.metrics)
        try:
            self.out.send(outcome)
        except (TypeError, ValueError) as exc:  # an int beyond 64 bits, say
            self.out.send({"type": "done", "id": prediction_id, "metrics": {},
                           "error": f"The output cannot be sent as JSON: {exc}"})

    def _arguments(self, inputs: dict[str, Any]) -> dict[str, Any]:
        arguments = {}
        for parameter in self.parameters:
            if parameter.name in inputs:
                arguments[parameter.name] = _argument(parameter, inputs[parameter.name])
            elif parameter.declared_default:
                # An optional input without a default: the predictor gets None, as in Cog.
                arguments[parameter.name] = None
        return arguments

    def _collect(self, prediction_id: str, result: Any) -> Any:
        if inspect.isawaitable(result):
            self.task = self.loop.create_task(_await(result))
            result = self.loop.run_until_complete(self.task)
        if isinstance(result, AsyncIterator):
            items: list[Any] = []
            self.task = self.loop.create_task(_next_items(result, self, prediction_id, items))
            self.loop.run_until_complete(self.task)
            return items
        if isinstance(result, Iterator):
            items = []
            for item in result:
                self._emit(prediction_id, item, items)
            return items
        return _jsonable(result)

    def _emit(self, prediction_id: str, item: Any, items: list[Any]) -> None:
        # A cancel must not cut a message in half: it waits until the item is sent.
        self.interruptible = False
        try:
            value = _jsonable(item)
            try:
                message = Channel.encode({"type": "output", "id": prediction_id, "item": value})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"an output item cannot be sent as JSON: {exc}") from None
            items.append(value)
            self.out.send_encoded(message)
        finally:
            self.interruptible = True
        if self.task is None and self.cancel_requested == prediction_id:
            raise self.cancel_exception()


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _next_items(result: AsyncIterator[Any], child: Child, prediction_id: str,
                      items: list[Any]) -> None:
    async for item in result:
        child._emit(prediction_id, item, items)


def _argument(parameter: Parameter, value: Any) -> Any:
    if value is None:
        return None
    if parameter.kind == "list":
        assert parameter.item is not None
        return [_argument(parameter.item, v) for v in value]
    if parameter.kind in ("path", "secret"):
        return parameter.cls(value)
    if parameter.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # 2 given for a float input arrives as 2.0, as in Cog
    if parameter.kind == "file":
        return open(value, "rb")  # the predictor owns it
    if parameter.kind == "union":
        return union_value(parameter.members, value)
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Types whose values are JSON as they are (exactly these: a subclass is looked at)."""


def _jsonable(value: Any) -> Any:
    """Output as JSON, with files as ``{"__file__": path}``."""
    if type(value) in _PLAIN:  # a streamed token, say: before the checks of ABCs below
        return value
    if isinstance(value, pathlib.PurePath):
        return {FILE_KEY: str(pathlib.Path(value).resolve())}
    name = getattr(value, "name", None)
    if isinstance(value, io.IOBase) and isinstance(name, str):
        return {FILE_KEY: str(pathlib.Path(name).resolve())}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, sdk.Secret) or type(value).__name__ == "Secret":
        return str(value)  # masked (before dataclasses: Cog's Secret is one)
    if hasattr(value, "model_dump"):
        return _jsonable(value.model_dump())
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable({k: getattr(value, k) for k in value.__dataclass_fields__})
    return value


def _summary(predictor: Any) -> str | None:
    """The first paragraph of the predictor's docstring: the model's description (never
    that of a base class of Cog's or Replicast's own)."""
    if inspect.isfunction(predictor):
        doc = inspect.getdoc(predictor)
    else:
        doc = None
        for owner in inspect.getmro(type(predictor)):
            if owner is object or _is_framework_base(owner):
                break
            if owner.__dict__.get("__doc__"):
                doc = inspect.cleandoc(owner.__dict__["__doc__"])
                break
    if not doc:
        return None
    return doc.split("\n\n")[0].replace("\n", " ").strip() or None


def _is_framework_base(cls: type) -> bool:
    return cls.__module__.split(".")[0] in ("cog", "coglet", "replicast")


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback from the first frame outside Replicast and importlib, on stderr."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and (
            tb.tb_frame.f_code.co_filename == __file__
            or tb.tb_frame.f_code.co_filename.startswith("<frozen importlib")):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tune_process() -> None:
    """Ask Linux (best effort) to kill this process when the server's process ends, and
    to end its timed waits when they are due.

    Linux lets a timer expire up to its "timer slack" late (50 µs by default) so that
    wake-ups can be batched to save power. A predictor's sleeps and timed waits (a
    streaming model's pause between items, a poll with a timeout) are in the latency
    of its prediction: with a slack of 1 ns, ``time.sleep(0)`` returns in ~15 µs rather
    than ~85 µs here, and ``time.sleep(0.001)`` after about a millisecond. The slack
    goes to the processes the predictor starts.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(_PR_SET_TIMERSLACK, 1)


def run(argv: list[str]) -> int:
    """Entry point of the process."""
    describe_only = argv[:1] == ["--describe"]
    long_fd, reference = int(argv[-2]), argv[-1]
    os.set_inheritable(long_fd, False)  # programs the predictor runs do not get it
    # Messages go into the log pipe through a descriptor of our own, which stays put
    # if the predictor points its stdout elsewhere.
    log_fd = os.dup(1)
    _tune_process()
    faulthandler.enable()  # a crash in C still leaves a Python traceback in the logs
    # Commands come on stdin; the predictor itself gets an empty stdin.
    commands = Reader(os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # Logging inside predict() is shown like print(), unless the predictor sets it up.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    child = Child(reference, commands, Outbox(Channel(log_fd, long_fd)))
    if describe_only:
        return 0 if child.describe() is not None else 1
    return child.main()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
