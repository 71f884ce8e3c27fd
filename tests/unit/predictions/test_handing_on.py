"""Predictions a runner hands to another server when they are created (gateway mode).

The service asks the runner to hand a new prediction on before committing it: the
other server's refusal is the create's answer and leaves nothing behind; its id is
kept with the prediction, for whoever runs it. A prediction that ends here other than
by the run following it is withdrawn there; one whose run stops for a restart is not.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from replicast.errors import ModelError, Throttled, UpstreamRefused
from replicast.models.base import Model, Runner
from replicast.models.registry import Registry
from replicast.models.schema import InputField, cog_openapi
from replicast.predictions.service import ListFilter
from replicast.predictions.status import Status
from replicast.predictions.withdrawals import Withdrawals
from replicast.times import now
from tests.support.harness import Harness


class HandingOn(Runner):
    """Stands for a routed model's runner: records what it is asked to do."""

    hands_on = True

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []
        self.withdrawn: list[str] = []
        self.followed: list[str | None] = []
        self.answer: str | Exception | None = "up-1"
        self.release = asyncio.Event()
        self.stopped: list[bool] = []  # context.interrupted, for each run canceled

    async def submit(self, prediction_id: str, inputs: dict[str, Any],
                     own_files: Any) -> str | None:
        self.submitted.append((prediction_id, inputs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def withdraw(self, upstream_id: str) -> None:
        self.withdrawn.append(upstream_id)

    async def predict(self, context: Any, inputs: dict[str, Any]) -> Any:
        self.followed.append(context.upstream_id)
        if context.upstream_id is None:
            await context.remember_upstream("made-when-run")
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.stopped.append(context.interrupted)
            raise
        return "done"


@pytest.fixture
def runner() -> HandingOn:
    return HandingOn()


@pytest.fixture
async def harness(tmp_path, runner):
    secret = InputField("key", "string", format="password", default=None, nullable=True,
                        extra={"x-cog-secret": True})
    schema = cog_openapi([InputField("value", "string", default="v"), secret],
                         {"type": "string"})
    routed = Model("up", "model", "routed", schema, runner, now())
    withdrawals = Withdrawals(Registry([routed]))
    h = await Harness(tmp_path, [routed], listeners=[withdrawals]).open(worker=False)
    yield h
    runner.release.set()
    await h.close()


async def test_the_upstream_id_is_kept_and_given_to_the_run(harness, runner):
    created = await harness.create("up/model", input={"key": "s3cret"})
    # The runner saw the input with its defaults and the secret's value.
    assert runner.submitted == [(created.id, {"value": "v", "key": "s3cret"})]
    stored = await harness.store.predictions.get(created.id)
    assert stored.upstream_id == "up-1" and stored.status is Status.STARTING
    assert created.input["key"] != "s3cret"  # shown masked
    await harness.worker.start()
    runner.release.set()
    final = await harness.until(created.id, lambda p: p.terminal)
    assert final.status is Status.SUCCEEDED and runner.followed == ["up-1"]


async def test_a_refusal_is_the_answer_and_leaves_nothing(harness, runner):
    runner.answer = UpstreamRefused("- input.value: bad", status=422,
                                    fields=[{"type": "x", "field": "input.value",
                                             "description": "bad"}])
    with pytest.raises(UpstreamRefused) as refused:
        await harness.create("up/model")
    assert refused.value.status == 422
    assert (await harness.service.list(harness.account, ListFilter())).results == []


async def test_a_prediction_that_failed_at_once_is_stored_failed(harness, runner):
    runner.answer = ModelError("The upstream http://u did not answer: ReadTimeout")
    created = await harness.create("up/model")
    assert created.status is Status.FAILED
    assert created.error == "The upstream http://u did not answer: ReadTimeout"
    assert (await harness.store.predictions.get(created.id)).status is Status.FAILED


async def test_one_not_handed_on_yet_is_handed_on_when_it_runs(harness, runner):
    runner.answer = None
    created = await harness.create("up/model")
    await harness.worker.start()
    await _until(lambda: runner.followed == [None])
    await _until_async(lambda: _upstream_id(harness, created.id), "made-when-run")


async def test_an_account_at_its_limit_is_refused_before_anything_is_handed_on(harness, runner):
    harness.service.max_unfinished = 1
    await harness.create("up/model")
    with pytest.raises(Throttled):
        await harness.create("up/model")
    assert len(runner.submitted) == 1


async def test_canceling_before_it_ran_here_withdraws_it_upstream(harness, runner):
    created = await harness.create("up/model")
    canceled = await harness.service.cancel(harness.account, created.id)
    assert canceled.status is Status.CANCELED
    await _until(lambda: runner.withdrawn == ["up-1"])


async def test_one_aborted_at_its_deadline_is_withdrawn(harness, runner):
    created = await harness.create("up/model", cancel_after=timedelta(milliseconds=50))
    await harness.until(created.id, lambda p: p.terminal)
    assert (await harness.store.predictions.get(created.id)).status is Status.ABORTED
    await _until(lambda: runner.withdrawn == ["up-1"])
    assert runner.followed == []


async def test_one_failed_here_while_followed_is_withdrawn(harness, runner):
    created = await harness.create("up/model")
    await harness.worker.start()
    running = await harness.until(created.id, lambda p: p.status is Status.PROCESSING)
    # As the lease reaper or a restart with its attempts spent would end it.
    await harness.lifecycle.fail(running, "The worker running this prediction stopped")
    await _until(lambda: runner.withdrawn == ["up-1"])


async def test_one_its_run_ends_is_left_to_the_run(harness, runner):
    created = await harness.create("up/model")
    await harness.worker.start()
    await harness.until(created.id, lambda p: p.status is Status.PROCESSING)
    await harness.service.cancel(harness.account, created.id)  # the run is canceled
    assert runner.stopped == [False]  # and told the upstream itself (a real runner does)
    runner.release.set()
    second = await harness.create("up/model")
    assert (await harness.until(second.id, lambda p: p.terminal)).status is Status.SUCCEEDED
    await asyncio.sleep(0.1)
    assert runner.withdrawn == []


async def test_a_run_stopped_for_a_restart_leaves_it_running_upstream(harness, runner):
    created = await harness.create("up/model")
    await harness.worker.start()
    await harness.until(created.id, lambda p: p.status is Status.PROCESSING)
    await harness.worker.stop(0.05)
    assert runner.stopped == [True]
    stored = await harness.store.predictions.get(created.id)
    assert stored.status is Status.STARTING and stored.upstream_id == "up-1"
    await asyncio.sleep(0.1)
    assert runner.withdrawn == []


async def _upstream_id(harness, prediction_id):
    return (await harness.store.predictions.get(prediction_id)).upstream_id


async def _until(check, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not check():
        assert loop.time() < give_up, "timed out"
        await asyncio.sleep(0.01)


async def _until_async(read, expected, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while (value := await read()) != expected:
        assert loop.time() < give_up, f"timed out with {value!r}"
        await asyncio.sleep(0.01)
