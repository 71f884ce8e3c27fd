"""The files service on a real SQLite store and a temporary folder."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from replicast import times
from replicast.errors import FileTooLarge, InvalidInput, ModelError, NotFound, StorageUnavailable
from replicast.files.blobs import ORPHANED, Blobs
from replicast.files.service import (
    ORPHAN_AGE,
    ORPHAN_CHECK_INTERVAL,
    ORPHAN_KEPT,
    FilesService,
    read_own_file,
)
from replicast.files.signing import DownloadSigner
from replicast.files.urls import file_url
from replicast.store.sqlite.store import SQLiteStore

CONTENT = b"hello, files\n"


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "replicast.db")
    await store.open()
    yield store
    await store.close()


def service(store, tmp_path, **options) -> FilesService:
    options = {"max_bytes": 1000, "retention": 3600.0, **options}
    return FilesService(store.files, Blobs(tmp_path / "files"), DownloadSigner("key"), **options)


@pytest.fixture
def files(store, tmp_path):
    return service(store, tmp_path, page_size=2)


@pytest.fixture
async def alice(store):
    return await store.accounts.ensure_account("alice")


@pytest.fixture
async def bob(store):
    return await store.accounts.ensure_account("bob")


async def upload(files, account, data=CONTENT, **fields):
    values = {"name": "notes.txt", "content_type": "text/plain", "metadata": {"n": 1},
              "base_url": "http://api.test", **fields}
    return await files.create(account, io.BytesIO(data), **values)


async def test_create_stores_the_bytes_and_their_checksums(files, alice, tmp_path):
    before = times.now()
    f = await upload(files, alice)
    assert (f.name, f.content_type, f.size, f.metadata) == ("notes.txt", "text/plain",
                                                            len(CONTENT), {"n": 1})
    assert f.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert f.md5 == hashlib.md5(CONTENT).hexdigest()
    assert before <= f.created_at <= times.now()
    assert f.expires_at == f.created_at + timedelta(hours=1)
    assert (tmp_path / "files" / f.id).read_bytes() == CONTENT
    assert await files.get(alice, f.id) == f
    assert await files.read(alice.id, f.id, max_bytes=1000) == CONTENT
    # No temporary file is left beside the blob.
    assert [p.name for p in (tmp_path / "files").iterdir()] == [f.id]


async def test_ids_are_unguessable(files, alice):
    made = {(await upload(files, alice)).id for _ in range(20)}
    assert len(made) == 20
    assert all(len(i) == 26 for i in made)


async def test_a_file_over_the_limit_is_refused_and_leaves_nothing(files, alice, tmp_path,
                                                                   store):
    with pytest.raises(FileTooLarge) as caught:
        await upload(files, alice, b"x" * 1001)
    assert caught.value.detail == "Files must be less than 1000 bytes in size"
    assert list((tmp_path / "files").iterdir()) == []
    assert (await files.list(alice)).results == []
    exact = await upload(files, alice, b"x" * 1000)
    assert exact.size == 1000


def test_the_limit_is_written_as_replicate_writes_it():
    assert FileTooLarge(100 * 1024 * 1024).detail == "Files must be less than 100MB in size"
    assert FileTooLarge(64 * 1024).detail == "Files must be less than 64KB in size"


async def test_another_accounts_file_is_not_found(files, alice, bob):
    f = await upload(files, alice)
    for attempt in (files.get(bob, f.id), files.read(bob.id, f.id, max_bytes=1000),
                    files.delete(bob, f.id)):
        with pytest.raises(NotFound, match="File not found"):
            await attempt
    assert (await files.list(bob)).results == []
    assert await files.read(alice.id, f.id, max_bytes=1000) == CONTENT


@pytest.mark.parametrize("file_id", ["", "nope", "../../replicast.db", "A" * 26, "x" * 300])
async def test_malformed_ids_are_not_found(files, alice, file_id):
    with pytest.raises(NotFound):
        await files.get(alice, file_id)


async def test_a_delete_the_bytes_cannot_follow_leaves_the_file(files, alice, tmp_path):
    f = await upload(files, alice)

    async def refuse(file_id):
        raise StorageUnavailable("cannot delete s3://b/files/x: connection refused")

    files.blobs.remove = refuse
    with pytest.raises(StorageUnavailable):
        await files.delete(alice, f.id)
    assert await files.get(alice, f.id) == f  # still there: the delete can be asked again


async def test_the_sweep_leaves_bytes_it_cannot_delete_for_later(store, tmp_path, alice):
    clock = Clock()
    files = service(store, tmp_path, retention=60, clock=clock)
    made = [await upload(files, alice) for _ in range(3)]
    real = files.blobs.remove

    async def refuse_one(file_id):
        if file_id == made[0].id:
            raise StorageUnavailable("cannot delete s3://b/files/x: AccessDenied")
        await real(file_id)

    files.blobs.remove = refuse_one
    clock.now += timedelta(seconds=61)
    assert await files.remove_expired(clock.now) == 2
    assert await store.files.get(alice.id, made[0].id) is not None
    files.blobs.remove = real
    assert await files.remove_expired(clock.now) == 1


async def test_delete_removes_the_record_and_the_bytes(files, alice, tmp_path):
    f = await upload(files, alice)
    await files.delete(alice, f.id)
    assert not (tmp_path / "files" / f.id).exists()
    with pytest.raises(NotFound):
        await files.get(alice, f.id)
    with pytest.raises(NotFound):
        await files.delete(alice, f.id)


class Clock:
    def __init__(self) -> None:
        self.now = times.now()

    def __call__(self):
        return self.now


async def test_an_expired_file_is_gone_before_the_sweep_and_swept_after(store, tmp_path, alice):
    clock = Clock()
    files = service(store, tmp_path, retention=60, clock=clock)
    f = await upload(files, alice)
    _, query = parse_download(files.download_url(f, "alice"))
    clock.now += timedelta(seconds=59)
    assert await files.get(alice, f.id) == f
    assert await files.signed("alice", f.id, query["expiry"], query["signature"]) == f
    clock.now += timedelta(seconds=1)
    with pytest.raises(NotFound):
        await files.get(alice, f.id)
    with pytest.raises(NotFound):
        await files.read(alice.id, f.id, max_bytes=1000)
    with pytest.raises(NotFound):
        await files.signed("alice", f.id, query["expiry"], query["signature"])
    assert (await files.list(alice)).results == []
    assert (tmp_path / "files" / f.id).exists()  # until the sweep
    assert await files.remove_expired(clock.now) == 1
    assert not (tmp_path / "files" / f.id).exists()
    assert await store.files.get(alice.id, f.id) is None
    assert await files.remove_expired(clock.now) == 0


async def test_the_sweep_leaves_files_that_have_not_expired(files, store, alice, tmp_path):
    f = await upload(files, alice)
    assert await files.remove_expired(times.now()) == 0
    assert await files.remove_expired(f.expires_at - timedelta(seconds=1)) == 0
    assert await files.remove_expired(f.expires_at) == 1
    assert not (tmp_path / "files" / f.id).exists()


async def test_retention_zero_keeps_files(store, tmp_path, alice):
    files = service(store, tmp_path, retention=0)
    f = await upload(files, alice)
    assert f.expires_at is None
    assert await files.remove_expired(times.now() + timedelta(days=3650)) == 0
    assert await files.get(alice, f.id) == f


async def test_pages_are_newest_first_with_positions(files, alice):
    made = [await upload(files, alice, name=f"{i}.txt") for i in range(5)]
    first = await files.list(alice)
    assert first.results == [made[4], made[3]] and first.previous is None
    second = await files.list(alice, before=first.next)
    assert second.results == [made[2], made[1]]
    last = await files.list(alice, before=second.next)
    assert last.results == [made[0]] and last.next is None
    back = await files.list(alice, after=second.previous)
    assert back.results == first.results and back.previous is None


def parse_download(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_signed_downloads_name_the_owner_and_expire_with_the_file(files, alice, bob):
    f = await upload(files, alice)
    path, query = parse_download(files.download_url(f, alice.username))
    assert path == f"/v1/files/{f.id}/download"
    assert query["owner"] == "alice"
    assert int(query["expiry"]) == int(f.expires_at.timestamp())
    digest = DownloadSigner("key")._digest("alice", f.id, int(query["expiry"]))
    assert base64.b64decode(query["signature"]) == digest
    assert await files.signed("alice", f.id, query["expiry"], query["signature"]) == f
    # The signature covers owner, id and expiry; any change is refused.
    for owner, expiry in [("bob", query["expiry"]), ("alice", str(int(query["expiry"]) + 1))]:
        with pytest.raises(NotFound):
            await files.signed(owner, f.id, expiry, query["signature"])
    other = await upload(files, alice)
    with pytest.raises(NotFound):
        await files.signed("alice", other.id, query["expiry"], query["signature"])
    # A valid signature for an owner who does not own the file finds nothing.
    signer = DownloadSigner("key")
    expiry = query["expiry"]
    with pytest.raises(NotFound):
        await files.signed("bob", f.id, expiry, signer.signature("bob", f.id, int(expiry)))


async def test_a_signature_past_its_expiry_is_refused(files, alice):
    f = await upload(files, alice)
    signer = DownloadSigner("key")
    past = int(times.now().timestamp()) - 1
    with pytest.raises(NotFound):
        await files.signed("alice", f.id, str(past), signer.signature("alice", f.id, past))


async def test_unexpiring_files_get_links_that_last_a_day_or_two(store, tmp_path, alice):
    files = service(store, tmp_path, retention=0)
    f = await upload(files, alice)
    _, query = parse_download(files.download_url(f, "alice"))
    left = int(query["expiry"]) - times.now().timestamp()
    assert 86400 <= left <= 2 * 86400
    assert await files.signed("alice", f.id, query["expiry"], query["signature"]) == f


async def test_bytes_deleted_meanwhile_are_not_found(files, alice, tmp_path):
    f = await upload(files, alice)
    (tmp_path / "files" / f.id).unlink()
    with pytest.raises(NotFound):
        await files.read(alice.id, f.id, max_bytes=1000)
    with pytest.raises(NotFound):
        await files.open(f)


async def test_an_accounts_files_may_not_take_more_than_its_share(store, tmp_path, alice, bob):
    from replicast.errors import FilesQuotaExceeded

    files = service(store, tmp_path, account_bytes=30)
    await upload(files, alice, b"x" * 20)
    with pytest.raises(FilesQuotaExceeded, match="take 20 bytes and may take at most 30 bytes"):
        await upload(files, alice, b"y" * 11)
    assert len(list((tmp_path / "files").iterdir())) == 1  # the refused bytes are gone
    await upload(files, alice, b"z" * 10)  # exactly up to the limit
    await upload(files, bob, b"b" * 30)  # every account has its own share


async def test_an_input_file_over_the_input_limit_is_refused_before_it_is_read(files, alice):
    f = await upload(files, alice, b"x" * 100)
    assert await files.read(alice.id, f.id, max_bytes=100) == b"x" * 100
    with pytest.raises(FileTooLarge):
        await files.read(alice.id, f.id, max_bytes=99)


@pytest.mark.parametrize("error", [InvalidInput, ModelError])
async def test_a_predictions_own_file_is_read_or_refused_with_the_callers_error(
        files, alice, bob, error):
    f = await upload(files, alice, b"x" * 100)
    url = file_url("http://api.test", f.id)
    own = await read_own_file(files, alice.id, "http://api.test", url, max_bytes=100,
                              error=error)
    assert own is not None and own.data == b"x" * 100 and own.name == "notes.txt"
    assert await read_own_file(files, alice.id, "http://api.test",
                               "https://elsewhere.test/x.png", max_bytes=100,
                               error=error) is None
    assert await read_own_file(None, alice.id, "http://api.test", url, max_bytes=100,
                               error=error) is None
    with pytest.raises(error, match=f"^The file at {re.escape(url)} is larger than 99 bytes$"):
        await read_own_file(files, alice.id, "http://api.test", url, max_bytes=99,
                            error=error)
    with pytest.raises(error, match=r"file not found$"):  # another account's
        await read_own_file(files, bob.id, "http://api.test", url, max_bytes=100,
                            error=error)

    async def unreachable(file_id):
        raise StorageUnavailable("cannot read s3://b/files/x: connection refused")

    files.blobs.read = unreachable
    with pytest.raises(error, match=f"^Cannot read the input file {re.escape(url)} now: "
                                    "Replicast's file storage refused or did not answer$"):
        await read_own_file(files, alice.id, "http://api.test", url, max_bytes=100,
                            error=error)


async def test_bytes_no_record_points_to_are_set_aside_once_old(files, store, alice,
                                                                  tmp_path):
    folder = tmp_path / "files"
    kept = [await upload(files, alice) for _ in range(2)]
    # What a process stopped mid-upload leaves: bytes renamed into place with no record,
    # and a partial copy.
    orphan = folder / "0rphanedupload0000000000000"
    orphan.write_bytes(b"nobody points here")
    partial = folder / ".partial-abc123"
    partial.write_bytes(b"half an upl")
    now = times.now()
    # Young ones may be an upload under way: left alone.
    assert await files.remove_orphans(now) == 0
    later = now + ORPHAN_AGE + timedelta(seconds=1)
    assert await files.remove_orphans(later) == 2
    assert not orphan.exists() and not partial.exists()
    set_aside = folder / ORPHANED / orphan.name
    assert set_aside.read_bytes() == b"nobody points here"  # recoverable for a while
    for f in kept:  # files with their records stay
        assert (folder / f.id).read_bytes() == CONTENT
        assert await files.get(alice, f.id) == f
    # Deleted once kept long enough.
    assert await files.remove_orphans(times.now() + ORPHAN_KEPT + timedelta(minutes=1)) == 1
    assert not set_aside.exists()


async def test_a_folder_of_another_databases_files_is_left_alone(files, alice, tmp_path,
                                                                  caplog):
    folder = tmp_path / "files"
    await upload(files, alice)
    for n in range(12):  # most old bytes without a record: not interrupted uploads
        (folder / f"foreign{n:020d}").write_bytes(b"x")
    later = times.now() + ORPHAN_AGE + timedelta(minutes=1)
    assert await files.remove_orphans(later) == 0
    assert len([p for p in folder.iterdir() if p.name.startswith("foreign")]) == 12
    assert "is it the database they belong to?" in caplog.text


async def test_the_expiry_sweep_looks_for_orphans_an_interval_after_start(store, tmp_path):
    clock = Clock()
    files = service(store, tmp_path, clock=clock)
    folder = tmp_path / "files"
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / "0rphanedupload0000000000000"
    orphan.write_bytes(b"x")
    written = (clock.now - ORPHAN_AGE * 2).timestamp()  # old enough from the start
    os.utime(orphan, (written, written))
    await files.remove_expired(clock.now + ORPHAN_CHECK_INTERVAL - timedelta(seconds=1))
    assert orphan.exists()  # too soon after the start to look
    await files.remove_expired(clock.now + ORPHAN_CHECK_INTERVAL)
    assert not orphan.exists() and (folder / ORPHANED / orphan.name).exists()
    # And not again until another interval has passed.
    orphan.write_bytes(b"y")
    os.utime(orphan, (written, written))
    await files.remove_expired(clock.now + ORPHAN_CHECK_INTERVAL * 2 - timedelta(seconds=1))
    assert orphan.exists()
