"""Input files are fetched before a prediction takes a slot of its model, once each,
and a cancel or a stop ends the fetch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from replicast.models.base import Model
from replicast.models.schema import InputField, cog_openapi
from replicast.predictions.status import Status
from replicast.times import now
from tests.support.harness import FunctionRunner, Harness

URI = {"type": "string", "format": "uri"}
SLOW = "http://slow.test/a.png"


class Fetcher:
    """Stands in for HTTP: a URL on slow.test waits for ``release``; others come at once."""

    max_bytes = 1000

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.fetching = asyncio.Event()
        self.release = asyncio.Event()
        self.canceled = asyncio.Event()

    async def fetch(self, url: str) -> bytes:
        raise AssertionError(f"{url} should have been fetched before the run")

    async def fetch_to(self, url: str, path: Path) -> int:
        self.asked.append(url)
        if url.startswith(SLOW):
            self.fetching.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.canceled.set()
                raise
        data = url.encode()
        await asyncio.to_thread(path.write_bytes, data)
        return len(data)


seen: list[Path] = []


async def reads(context, inputs):
    paths = [await context.input_file(url) for url in inputs["images"]]
    seen.extend(paths)
    return [(await context.fetch_file(url)).decode() for url in inputs["images"]]


def images_model() -> Model:
    schema = cog_openapi([InputField("images", "array", items=URI)], {"type": "array"})
    return Model("t", "images", "t/images", schema, FunctionRunner(reads, 1), now())


@pytest.fixture
async def harness(tmp_path):
    seen.clear()
    h = Harness(tmp_path, [images_model()], predict_timeout=30)
    h.fetcher_seen = h.worker.fetcher = Fetcher()
    await h.open()
    yield h
    h.fetcher_seen.release.set()
    await h.close()


async def test_a_slow_fetch_holds_no_slot(harness):
    slow = await harness.create("t/images", input={"images": [SLOW]})
    await asyncio.wait_for(harness.fetcher_seen.fetching.wait(), 5)
    quick = await harness.create("t/images", wait=5, input={"images": ["http://a/b.png"]})
    assert (quick.status, quick.output) == (Status.SUCCEEDED, ["http://a/b.png"])
    harness.fetcher_seen.release.set()
    done = await harness.until(slow.id, lambda p: p.terminal)
    assert (done.status, done.output) == (Status.SUCCEEDED, [SLOW])


async def test_each_distinct_file_is_fetched_once_and_removed_after(harness):
    urls = ["http://a/x.png", "http://a/y.png", "http://a/x.png", "http://a/x.png"]
    done = await harness.create("t/images", wait=5, input={"images": urls})
    assert done.status is Status.SUCCEEDED and done.output == urls
    assert harness.fetcher_seen.asked == ["http://a/x.png", "http://a/y.png"]
    assert [p.name for p in seen] == ["x.png", "y.png", "x.png", "x.png"]
    assert seen[0] == seen[2] and not any(p.exists() for p in seen)


async def test_a_cancel_ends_the_fetch(harness):
    slow = await harness.create("t/images", input={"images": [SLOW]})
    await asyncio.wait_for(harness.fetcher_seen.fetching.wait(), 5)
    await harness.service.cancel(harness.account, slow.id)
    done = await harness.until(slow.id, lambda p: p.terminal)
    assert done.status is Status.CANCELED
    await asyncio.wait_for(harness.fetcher_seen.canceled.wait(), 1)


async def test_a_stop_during_the_fetch_puts_the_prediction_back(harness):
    slow = await harness.create("t/images", input={"images": [SLOW]})
    await asyncio.wait_for(harness.fetcher_seen.fetching.wait(), 5)
    await harness.worker.stop(grace=0.1)
    assert harness.fetcher_seen.canceled.is_set()
    again = await harness.store.predictions.get(slow.id)
    assert again.status is Status.STARTING  # runs again at the next start
