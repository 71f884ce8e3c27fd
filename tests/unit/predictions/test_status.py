import itertools

import pytest

from replicast.errors import IllegalTransition
from replicast.predictions.status import TERMINAL, TRANSITIONS, Status, check_transition, sources_of


def test_terminal_statuses_are_the_four_final_ones():
    assert {Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.ABORTED} == TERMINAL
    assert not Status.STARTING.terminal
    assert not Status.PROCESSING.terminal


def test_values_are_replicates():
    assert [s.value for s in Status] == [
        "starting", "processing", "succeeded", "failed", "canceled", "aborted",
    ]


@pytest.mark.parametrize("current,target", list(itertools.product(Status, Status)))
def test_only_listed_transitions_are_allowed(current, target):
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_terminal_statuses_never_change():
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()


def test_aborted_only_before_the_run_starts():
    assert sources_of(Status.ABORTED) == {Status.STARTING}
    assert sources_of(Status.SUCCEEDED) == {Status.PROCESSING}
    assert sources_of(Status.CANCELED) == {Status.STARTING, Status.PROCESSING}
    assert sources_of(Status.PROCESSING) == {Status.STARTING}
