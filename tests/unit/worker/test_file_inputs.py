"""Input URLs of this server's own uploaded files are read from the files store, as the
prediction's account, and never fetched over HTTP."""

from __future__ import annotations

import io

import pytest

from replicast.errors import ModelError
from replicast.files.blobs import Blobs
from replicast.files.service import FilesService
from replicast.files.signing import DownloadSigner
from replicast.predictions.status import Status
from tests.support.harness import Harness, model

BASE = "http://test"  # the harness's base URL


async def reads(context, inputs):
    return (await context.fetch_file(inputs["value"])).decode()


class RecordingFetcher:
    """Stands in for HTTP: remembers what it was asked for and fails."""

    max_bytes = 1000

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def fetch(self, url: str) -> bytes:
        self.asked.append(url)
        raise ModelError(f"fetched {url} over HTTP")

    async def fetch_to(self, url: str, path) -> int:
        return len(await self.fetch(url))


@pytest.fixture
async def harness(tmp_path):
    h = Harness(tmp_path, [model("t/reads", reads)])
    h.files = FilesService(h.store.files, Blobs(tmp_path / "files"), DownloadSigner("k"),
                           max_bytes=10_000, retention=3600)
    h.worker.files = h.files
    h.fetcher_seen = h.worker.fetcher = RecordingFetcher()
    await h.open()
    yield h
    await h.close()


async def upload(h, account, data: bytes):
    return await h.files.create(account, io.BytesIO(data), name="in.txt",
                                content_type="text/plain", metadata={}, base_url=BASE)


@pytest.mark.parametrize("path", ["/v1/files/{id}", "/replicate/v1/files/{id}",
                                  "/v1/files/{id}/download",
                                  "/v1/files/{id}/download?owner=x&expiry=1&signature=s"])
async def test_own_file_urls_are_read_from_the_store(harness, path):
    f = await upload(harness, harness.account, b"uploaded bytes")
    url = BASE + path.format(id=f.id)
    done = await harness.create("t/reads", wait=5, input={"value": url})
    assert (done.status, done.output) == (Status.SUCCEEDED, "uploaded bytes"), done.error
    assert harness.fetcher_seen.asked == []


async def test_another_accounts_file_fails_the_prediction_as_not_found(harness):
    stranger = await harness.store.accounts.ensure_account("stranger")
    theirs = await upload(harness, stranger, b"not yours")
    url = f"{BASE}/v1/files/{theirs.id}"
    done = await harness.create("t/reads", wait=5, input={"value": url})
    assert done.status is Status.FAILED
    assert done.error == f"Cannot read the input file {url}: file not found"
    assert harness.fetcher_seen.asked == []
    # Its owner can use it.
    own = await harness.service.create(stranger, harness.registry.get("t/reads"),
                                       {"value": url}, base_url=BASE, wait=5)
    assert own.output == "not yours"


async def test_deleted_and_unknown_files_fail_the_prediction(harness):
    f = await upload(harness, harness.account, b"soon gone")
    await harness.files.delete(harness.account, f.id)
    for file_id in (f.id, "0" * 26, "not-an-id"):
        done = await harness.create("t/reads", wait=5,
                                    input={"value": f"{BASE}/v1/files/{file_id}"})
        assert done.status is Status.FAILED and done.error.endswith("file not found")
    assert harness.fetcher_seen.asked == []


async def test_file_urls_of_other_servers_go_to_the_fetcher(harness):
    f = await upload(harness, harness.account, b"local")
    url = f"http://elsewhere.test/v1/files/{f.id}"
    done = await harness.create("t/reads", wait=5, input={"value": url})
    assert done.status is Status.FAILED and done.error == f"fetched {url} over HTTP"
    assert harness.fetcher_seen.asked == [url]
