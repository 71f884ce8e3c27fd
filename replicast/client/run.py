"""``replicast run``: create a prediction, show it running, save what it made.

Against a server given by URL, or against Replicast started in this process on the
local data folder (``local.py``); the HTTP is the same either way. Ctrl-C cancels
the prediction and exits 130; a second Ctrl-C exits at once. ``SIGTERM`` and
``SIGHUP`` (the terminal closing) cancel it the same way, exiting 143 and 129.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from replicast.client import inputs as input_values
from replicast.client.connection import ClientError, Connection, remote
from replicast.client.display import Display, is_terminal, printable
from replicast.client.follow import Follower, concatenates, writes_text
from replicast.client.saving import create_unique, file_name, is_output_file
from replicast.config import Settings
from replicast.models.schema_refs import input_properties

INTERRUPTED = 130
"""The exit status after Ctrl-C; after another signal, 128 plus its number."""
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_MODEL = re.compile(r"([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(?::([A-Za-z0-9]+))?$")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``replicast run`` was asked to do."""

    model: str
    inputs: tuple[str, ...] = ()
    server: str | None = None
    token: str | None = None
    output_dir: Path | None = None
    json: bool = False
    wait: bool = True
    timeout: str | None = None
    """Sent as ``Cancel-After``: the server cancels the prediction then."""
    data_dir: Path | None = None


def parse_model(reference: str) -> tuple[str, str | None]:
    """``owner/name[:version]`` as ``owner/name`` and the version."""
    match = _MODEL.match(reference.strip())
    if match is None:
        raise ClientError(f"{reference!r} is not a model: expected owner/name or "
                          "owner/name:version", exit_code=2)
    return f"{match[1]}/{match[2]}", match[3]


def run(options: RunOptions, *, out: TextIO | None = None, err: TextIO | None = None,
        env: Mapping[str, str] | None = None) -> int:
    """Run ``replicast run``; its exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    model, version = parse_model(options.model)
    if options.output_dir is not None:
        # Before anything runs: a folder that cannot be made would only fail at the end.
        try:
            options.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClientError(f"Cannot save into {options.output_dir}: {exc.strerror}",
                              exit_code=2) from None
    server, token = remote(options.server, options.token, env)
    display = Display(out, err, terminal=not options.json and is_terminal(out, err),
                      quiet=options.json)
    with Interrupts() as interrupts:
        try:
            with _connected(server, token, options.data_dir) as connection:
                return Run(connection, display, options, interrupts).execute(model, version)
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                display.close()
                print("Interrupted.", file=err)
            return interrupts.status
        finally:
            with contextlib.suppress(OSError):
                display.close()


@contextlib.contextmanager
def _connected(server: str | None, token: str | None,
               data_dir: Path | None) -> Iterator[Connection]:
    if server is not None:
        with Connection(server, token) as connection:
            yield connection
        return
    from replicast.client.local import local_server

    with local_server(Settings.from_env(data_dir=data_dir)) as (url, local_token), \
            Connection(url, local_token) as connection:
        yield connection


class Run:
    """One ``replicast run``, from the input to the saved files."""

    def __init__(self, connection: Connection, display: Display, options: RunOptions,
                 interrupts: Interrupts) -> None:
        self.connection = connection
        self.display = display
        self.options = options
        self.interrupts = interrupts

    def execute(self, model: str, version: str | None) -> int:
        owner, name = model.split("/")
        schema = self.connection.model_schema(owner, name, version)
        values = input_values.build_input(self.options.inputs,
                                          input_properties(schema))
        values = self._upload(values)
        with self.interrupts.deferred():
            prediction = self.connection.create(model, version, values,
                                                cancel_after=self.options.timeout)
        # From here on the prediction exists: an interrupt anywhere cancels it.
        try:
            self.display.status(
                f"Prediction {prediction['id']} of {model}: {prediction['status']}")
            if self.interrupts.pending:
                return self._cancel(prediction["id"])
            if not self.options.wait:
                return self._created(prediction)
            output = input_values.output_schema(schema)
            follower = Follower(self.connection, self.display, prediction,
                                text=writes_text(output), concatenate=concatenates(output))
            final = follower.follow()
        except KeyboardInterrupt:
            return self._cancel(prediction["id"])
        follower.finish()
        return self._report(final, streamed=follower.streamed, separator=follower.separator)

    def _upload(self, values: dict[str, Any]) -> dict[str, Any]:
        files = input_values.files_in(values)
        urls: dict[Path, str] = {}
        for file in files:
            if file.path not in urls:
                self.display.note(f"Uploading {file.path}")
                urls[file.path] = self.connection.upload(file.path)
        result: dict[str, Any] = input_values.replace_files(values, urls)
        return result

    def _cancel(self, prediction_id: str) -> int:
        # After SIGHUP the terminal may be gone: canceling matters, telling may fail.
        with contextlib.suppress(OSError):
            self.display.close()
            self.display.note(f"Canceling prediction {prediction_id} "
                              "(Ctrl-C again to quit at once)")
        canceled = self.connection.cancel(prediction_id)
        status = canceled.get("status")
        with contextlib.suppress(OSError):
            if self.options.json:
                print(json.dumps(canceled, indent=2), file=self.display.out)
            if status == "canceled":
                print(f"Canceled prediction {prediction_id}.", file=self.display.err)
            else:
                print(f"Prediction {prediction_id} had already {status}.",
                      file=self.display.err)
        return self.interrupts.status

    def _created(self, prediction: Mapping[str, Any]) -> int:
        """``--no-wait``: the prediction's id (or JSON), at once."""
        if self.options.json:
            print(json.dumps(prediction, indent=2), file=self.display.out, flush=True)
        else:
            self.display.output(prediction["id"])
        return 0

    def _report(self, prediction: Mapping[str, Any], *, streamed: int, separator: str) -> int:
        """Save and print the output (or print the JSON); the exit status."""
        status = prediction.get("status")
        self.display.stop_progress()
        if status == "succeeded" and not self.options.json:
            took = (prediction.get("metrics") or {}).get("predict_time")
            timing = f" in {took:.2f} s" if isinstance(took, int | float) else ""
            self.display.status(f"Status: succeeded{timing}")
        self._output(prediction.get("output"), streamed, separator)
        if self.options.json:
            print(json.dumps(prediction, indent=2), file=self.display.out, flush=True)
        if status == "succeeded":
            return 0
        self.display.close()
        if status == "failed":
            error = printable(str(prediction.get("error") or "the prediction failed"))
            print(f"Error: {error}", file=self.display.err)
        else:
            hint = f" (--timeout {self.options.timeout})" if self.options.timeout else ""
            print(f"The prediction was {status}{hint}.", file=self.display.err)
        return 1

    def _output(self, output: Any, streamed: int, separator: str) -> None:
        items = output if isinstance(output, list) else [] if output is None else [output]
        save = not self.options.json or self.options.output_dir is not None
        folder = self.options.output_dir or Path()
        for item in items[streamed:]:
            if is_output_file(item):
                if save:
                    self.display.output(str(self._save(item, folder)))
            elif self.options.json:
                continue
            elif isinstance(item, str):
                self.display.text(item + separator)
            else:
                self.display.output(json.dumps(item))
        self.display.end_text()

    def _save(self, url: str, folder: Path) -> Path:
        path, handle = create_unique(folder, file_name(url))
        try:
            with handle:
                self.connection.download(url, handle)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


class Interrupts:
    """Ctrl-C (or ``SIGTERM``, ``SIGHUP``) while a command runs: the first raises
    ``KeyboardInterrupt`` (or, inside ``deferred()``, is kept for later in ``pending``);
    the second exits at once."""

    def __init__(self, exit: Callable[[int], Any] = os._exit) -> None:
        self.pending = False
        self.status = INTERRUPTED
        """The exit status the signal that stopped the command asks for."""
        self._count = 0
        self._deferring = False
        self._exit = exit
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in STOPPING_SIGNALS:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN:
                    continue  # ignored on purpose (nohup): stays ignored
                self._previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self._count += 1
        if self._count > 1:
            # A second Ctrl-C quits at once; a repeated SIGTERM or SIGHUP (a closing
            # terminal sends more than one) lets the cancel under way finish.
            if signum != signal.SIGINT:
                return
            with contextlib.suppress(OSError):
                sys.stdout.flush()
                print("\nQuitting without waiting.", file=sys.stderr, flush=True)
            self._exit(self.status)
            return
        self.status = 128 + signum
        if self._deferring:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a Ctrl-C until the block is done (creating the prediction, say)."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
