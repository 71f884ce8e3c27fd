"""Uploads' bytes in a bucket, against moto's S3 server: what the files service asks."""

from __future__ import annotations

import hashlib
import io
import time

import pytest

from replicast.errors import FileTooLarge
from replicast.files.bucket_blobs import BucketBlobs
from replicast.outputs.bucket import BucketOutputs
from replicast.storage.bucket import Bucket, RangeNotSatisfiable
from replicast.storage.location import parse
from tests.support import s3_server

BUCKET = "blobs"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server.running(tmp_path_factory.mktemp("s3"), BUCKET) as server:
        yield server


@pytest.fixture
def blobs(s3, request):
    prefix = request.node.name.replace("_", "-")
    return BucketBlobs(Bucket.connect(parse(f"s3://{BUCKET}/{prefix}"), s3.env()))


async def test_a_blob_is_written_measured_read_and_removed(blobs, s3):
    data = bytes(range(256)) * 1000
    digest = await blobs.write("f1", io.BytesIO(data), limit=len(data))
    assert (digest.size, digest.sha256, digest.md5) == (
        len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert await blobs.read("f1") == data
    opened = await blobs.open("f1", "bytes=10-19")
    assert opened is not None and opened.size == 10 and opened.total == len(data)
    assert b"".join([c async for c in opened.chunks()]) == data[10:20]
    with pytest.raises(RangeNotSatisfiable):
        await blobs.open("f1", f"bytes={len(data)}-")
    await blobs.remove("f1")
    assert await blobs.read("f1") is None and await blobs.open("f1") is None
    await blobs.remove("f1")  # gone already: nothing to do


async def test_a_file_over_the_limit_leaves_nothing(blobs, s3):
    with pytest.raises(FileTooLarge):
        await blobs.write("big", io.BytesIO(b"x" * 101), limit=100)
    assert s3.keys(BUCKET, blobs.bucket.key("")) == []


async def test_old_blobs_are_set_aside_then_purged(blobs, s3):
    for name in ("a1", "b2"):
        await blobs.write(name, io.BytesIO(b"data"), limit=10)
    later = time.time() + 60
    assert sorted(await blobs.older_than(later)) == ["a1", "b2"]
    assert await blobs.older_than(time.time() - 3600) == []
    await blobs.set_aside("a1")
    assert await blobs.older_than(later) == ["b2"]  # those set aside are not listed
    root = blobs.bucket.key("files", "")
    assert s3.keys(BUCKET, root) == [f"{root}.orphaned/a1", f"{root}b2"]
    assert await blobs.purge_set_aside(time.time() - 3600) == 0
    assert await blobs.purge_set_aside(later) == 1
    assert s3.keys(BUCKET, root) == [f"{root}b2"]
    assert await blobs.remove_partials(later) == 0


async def test_outputs_a_browser_would_run_are_kept_as_downloads(s3):
    outputs = BucketOutputs(Bucket.connect(parse(f"s3://{BUCKET}/outputs-kinds"), s3.env()))
    for name in ("out-0.webp", "page.html", "logo.svg", "notes.txt"):
        await outputs.save("http://h", "p1", "run", name, b"x")
    client = s3.client()
    kinds = {}
    for name in ("out-0.webp", "page.html", "logo.svg", "notes.txt"):
        head = client.head_object(Bucket=BUCKET, Key=f"outputs-kinds/outputs/p1/run/{name}")
        kinds[name] = (head["ContentType"], head.get("ContentDisposition"))
    assert kinds == {"out-0.webp": ("image/webp", None),
                     "page.html": ("application/octet-stream", "attachment"),
                     "logo.svg": ("application/octet-stream", "attachment"),
                     "notes.txt": ("text/plain; charset=utf-8", None)}
    assert await outputs.read("p1", "run", "page.html") == b"x"
    await outputs.remove("p1")
    assert s3.keys(BUCKET, "outputs-kinds/") == []


async def test_outputs_of_many_predictions_go_in_one_sweep(s3):
    outputs = BucketOutputs(Bucket.connect(parse(f"s3://{BUCKET}/many"), s3.env()))
    for prediction_id in ("p1", "p2", "p3"):
        for name in ("a.png", "b.png"):
            await outputs.save("http://h", prediction_id, "run", name, b"x")
    assert await outputs.remove_many(["p1", "p3", "nothing-here"]) == ["p1", "p3",
                                                                        "nothing-here"]
    assert s3.keys(BUCKET, "many/") == ["many/outputs/p2/run/a.png", "many/outputs/p2/run/b.png"]



async def test_only_a_well_formed_range_is_asked_of_the_bucket():
    import types

    asked = []

    class Client:
        def get_object(self, **kwargs):
            asked.append(kwargs.get("Range"))
            return {"Body": io.BytesIO(b"x"), "ContentLength": 1}

    credentials = types.SimpleNamespace(get_frozen_credentials=lambda: types.SimpleNamespace(
        access_key="a", secret_key="s", token=None))
    bucket = Bucket(parse("s3://bkt/p"), Client(), credentials, region="us-east-1",
                    object_base="http://h/bkt/")
    for given in ("bytes=-", "bytes=", "items=1-2", "bytes=a-b", "bytes=1-2,4-5",
                  "bytes=2-", "bytes=-3", "bytes=1-8"):
        await bucket.open("p/k", given)
    # A store may refuse a malformed one as a bad request (a 503 here): it is left out.
    assert asked == [None, None, None, None, None, "bytes=2-", "bytes=-3", "bytes=1-8"]
