from __future__ import annotations

import asyncio

import pytest

from replicast.errors import InvalidInput, NotFound
from replicast.predictions.service import ListFilter
from replicast.predictions.status import Status
from tests.support.harness import Harness, model

release = asyncio.Event()


async def ok(context, inputs):
    return inputs["value"]


async def blocked(context, inputs):
    await release.wait()
    return "released"


@pytest.fixture
async def harness(tmp_path):
    release.clear()
    h = await Harness(tmp_path, [model("t/ok", ok), model("t/blocked", blocked)]).open()
    yield h
    await h.close()


async def test_create_commits_a_starting_prediction(harness):
    p = await harness.create("t/ok", input={"value": "v"})
    assert p.status is Status.STARTING and p.output is None and p.logs == ""
    assert p.version == harness.registry.get("t/ok").version_id
    assert len(p.id) == 26 and len(p.stream_token) == 52
    stored = await harness.store.predictions.get(p.id)
    assert stored.id == p.id and stored.input == {"value": "v"}


async def test_input_is_validated_before_anything_is_stored(harness):
    with pytest.raises(InvalidInput):
        await harness.create("t/ok", input={"value": 5})
    assert (await harness.service.list(harness.account, ListFilter())).results == []


async def test_wait_returns_the_finished_prediction(harness):
    p = await harness.create("t/ok", wait=5, input={"value": "v"})
    assert p.status is Status.SUCCEEDED and p.output == "v"


async def test_wait_gives_up_after_its_timeout(harness):
    loop = asyncio.get_running_loop()
    began = loop.time()
    p = await harness.create("t/blocked", wait=0.3)
    assert 0.25 <= loop.time() - began < 2
    assert not p.terminal
    release.set()
    done = await harness.until(p.id, lambda q: q.terminal)
    assert done.status is Status.SUCCEEDED and done.output == "released"


async def test_other_accounts_cannot_see_or_cancel(harness):
    p = await harness.create("t/ok", wait=5, input={"value": "v"})
    stranger = await harness.store.accounts.ensure_account("stranger")
    with pytest.raises(NotFound):
        await harness.service.get(stranger, p.id)
    with pytest.raises(NotFound):
        await harness.service.cancel(stranger, p.id)
    with pytest.raises(NotFound):
        await harness.service.get(harness.account, "not-an-id")
    assert (await harness.service.list(stranger, ListFilter())).results == []


async def test_pages_walk_forwards_and_back(harness):
    created = [await harness.create("t/ok", input={"value": str(i)}) for i in range(8)]
    newest_first = [p.id for p in reversed(created)]
    seen = []
    page = await harness.service.list(harness.account, ListFilter())
    assert page.previous is None
    pages = [page]
    while page.next is not None:
        page = await harness.service.list(harness.account, ListFilter(), before=page.next)
        pages.append(page)
    for page in pages:
        seen += [p.id for p in page.results]
    assert seen == newest_first
    assert [len(p.results) for p in pages] == [3, 3, 2]
    # From the last page, previous leads back to the middle one, then the first.
    middle = await harness.service.list(harness.account, ListFilter(), after=pages[2].previous)
    assert [p.id for p in middle.results] == newest_first[3:6]
    first = await harness.service.list(harness.account, ListFilter(), after=middle.previous)
    assert [p.id for p in first.results] == newest_first[:3]
    assert first.previous is None and first.next is not None


async def test_an_exact_page_has_no_next(harness):
    for i in range(3):
        await harness.create("t/ok", input={"value": str(i)})
    page = await harness.service.list(harness.account, ListFilter())
    assert len(page.results) == 3 and page.next is None
