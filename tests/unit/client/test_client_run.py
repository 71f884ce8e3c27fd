"""``replicast run``'s pure parts: model references and Ctrl-C."""

from __future__ import annotations

import io
import signal

import pytest

from replicast.client.connection import ClientError
from replicast.client.display import Display
from replicast.client.run import Interrupts, Run, RunOptions, parse_model


@pytest.mark.parametrize(("reference", "parsed"), [
    ("replicast/echo", ("replicast/echo", None)),
    ("black-forest-labs/flux-schnell", ("black-forest-labs/flux-schnell", None)),
    ("me/my.model:5c7d5dc6dd8b", ("me/my.model", "5c7d5dc6dd8b")),
])
def test_models_are_owner_name_and_maybe_a_version(reference, parsed):
    assert parse_model(reference) == parsed


@pytest.mark.parametrize("reference", ["echo", "a/b/c", "a/b:", "/b", "a/b:v-1"])
def test_anything_else_is_a_usage_error(reference):
    with pytest.raises(ClientError) as caught:
        parse_model(reference)
    assert caught.value.exit_code == 2


def test_the_first_ctrl_c_interrupts_and_the_second_exits_at_once():
    exits = []
    interrupts = Interrupts(exit=exits.append)
    with pytest.raises(KeyboardInterrupt):
        interrupts.handle(2, None)
    assert exits == []
    interrupts.handle(2, None)
    assert exits == [130]


@pytest.mark.parametrize("signum,status", [(15, 143), (1, 129)])
def test_sigterm_and_sighup_stop_like_ctrl_c_with_their_own_status(signum, status):
    exits = []
    interrupts = Interrupts(exit=exits.append)
    with pytest.raises(KeyboardInterrupt):
        interrupts.handle(signum, None)
    assert interrupts.status == status
    interrupts.handle(signum, None)  # a closing terminal sends more than one
    assert exits == []  # the cancel under way goes on
    interrupts.handle(2, None)  # Ctrl-C still quits at once
    assert exits == [status]


def test_a_signal_ignored_on_purpose_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    try:
        with Interrupts(exit=lambda code: None):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_ctrl_c_while_deferred_is_kept_for_after():
    interrupts = Interrupts(exit=lambda code: None)
    with interrupts.deferred():
        interrupts.handle(2, None)  # no KeyboardInterrupt here
    assert interrupts.pending


class _Connection:
    """Just enough of a server: a model, one create, and the cancel it gets."""

    def __init__(self) -> None:
        self.canceled: list[str] = []

    def model_schema(self, owner, name, version):
        return {"components": {"schemas": {"Input": {"properties": {}}, "Output": {}}}}

    def create(self, model, version, values, cancel_after=None):
        return {"id": "p1", "status": "starting", "urls": {}}

    def cancel(self, prediction_id):
        self.canceled.append(prediction_id)
        return {"id": prediction_id, "status": "canceled"}


class _InterruptedDisplay(Display):
    def status(self, text: str) -> None:
        super().status(text)
        raise KeyboardInterrupt  # a signal right after the status line is written


def test_an_interrupt_just_after_the_create_still_cancels_the_prediction():
    connection, err = _Connection(), io.StringIO()
    display = _InterruptedDisplay(io.StringIO(), err, terminal=False)
    run = Run(connection, display, RunOptions("a/b"), Interrupts(exit=lambda code: None))
    assert run.execute("a/b", None) == 130
    assert connection.canceled == ["p1"]
    assert "Canceled prediction p1." in err.getvalue()
