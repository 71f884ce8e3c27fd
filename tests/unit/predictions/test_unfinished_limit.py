"""The limit on an account's unfinished predictions, as the service applies it."""

from __future__ import annotations

import pytest

from replicast.errors import Throttled
from replicast.predictions.service import ListFilter
from tests.support.harness import Harness, model


async def ok(context, inputs):
    return inputs["value"]


@pytest.fixture
async def harness(tmp_path):
    h = await Harness(tmp_path, [model("t/ok", ok)]).open(worker=False)
    yield h
    await h.close()


async def test_creates_over_the_limit_are_refused_and_not_stored(harness):
    harness.service.max_unfinished = 2
    first = await harness.create("t/ok")
    await harness.create("t/ok")
    with pytest.raises(Throttled) as refused:
        await harness.create("t/ok")
    assert refused.value.detail == ("You have 2 predictions starting or processing; the limit "
                                    "is 2. Wait for some to finish.")
    assert refused.value.retry_after is None
    assert len((await harness.service.list(harness.account, ListFilter())).results) == 2
    await harness.service.cancel(harness.account, first.id)
    await harness.create("t/ok")


async def test_one_unfinished_prediction_is_said_in_the_singular(harness):
    harness.service.max_unfinished = 1
    await harness.create("t/ok")
    with pytest.raises(Throttled) as refused:
        await harness.create("t/ok")
    assert refused.value.detail.startswith(
        "You have 1 prediction starting or processing; the limit is 1.")


async def test_no_limit_by_default(harness):
    assert harness.service.max_unfinished == 0
    for _ in range(5):
        await harness.create("t/ok")
    assert len(await harness.store.runs.list_unfinished()) == 5
