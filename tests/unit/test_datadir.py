"""The data folder and what Replicast creates in it: the user's alone, whatever the umask."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess

import pytest

from replicast import datadir
from replicast.files.blobs import Blobs
from replicast.outputs.local import LocalOutputs
from replicast.store.sqlite.store import SQLiteStore


@pytest.fixture
def permissive_umask():
    """A umask that takes nothing away: every mode is what the code asked for."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes_under(root) -> dict[str, int]:
    found = {".": mode(root)}
    for folder, folders, files in os.walk(root):
        for name in (*folders, *files):
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = mode(path)
    return found


def test_a_new_data_folder_and_its_parents_are_the_users_alone(tmp_path, permissive_umask):
    data = tmp_path / "share" / "replicast"
    with datadir.exclusive(data):
        pass
    assert mode(tmp_path / "share") == 0o700
    assert modes_under(data) == {".": 0o700, "replicast.lock": 0o600}


async def test_the_database_its_wal_and_index_are_the_users_alone(tmp_path, permissive_umask):
    store = SQLiteStore(tmp_path / "data" / "replicast.db")
    await store.open()
    try:
        await store.accounts.ensure_account("alice")
        assert modes_under(tmp_path / "data") == {
            ".": 0o700, "replicast.db": 0o600, "replicast.db-wal": 0o600,
            "replicast.db-shm": 0o600}
    finally:
        await store.close()


async def test_output_and_uploaded_files_are_the_users_alone(tmp_path, permissive_umask):
    await LocalOutputs(tmp_path / "outputs").save("http://h", "p1", "run", "out.png", b"x")
    blobs = Blobs(tmp_path / "files")
    await blobs.write("f1", io.BytesIO(b"bytes"), limit=100)
    await blobs.set_aside("f1")
    assert modes_under(tmp_path) == {
        ".": mode(tmp_path), "outputs": 0o700, "outputs/p1": 0o700, "outputs/p1/run": 0o700,
        "outputs/p1/run/out.png": 0o600, "files": 0o700, "files/.orphaned": 0o700,
        "files/.orphaned/f1": 0o600}


async def test_what_an_earlier_version_left_open_is_tightened_and_logged(tmp_path, caplog):
    data = tmp_path / "data"
    (data / "outputs" / "p1").mkdir(parents=True)
    for name in ("replicast.db", "replicast.db-wal", "replicast.lock", "unrelated.txt"):
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    for folder in (data, data / "outputs", data / "outputs" / "p1"):
        os.chmod(folder, 0o755)
    with caplog.at_level(logging.WARNING, logger="replicast.datadir"):
        datadir.secure(data)
    found = modes_under(data)
    assert (found["."], found["outputs"]) == (0o700, 0o700)
    assert found["replicast.db"] == found["replicast.db-wal"] == found["replicast.lock"] == 0o600
    # Inside a folder only the user may enter; and files not Replicast's are left alone.
    assert (found["outputs/p1"], found["unrelated.txt"]) == (0o755, 0o644)
    told = [r.getMessage() for r in caplog.records]
    assert any(str(data) in line and "was 755" in line for line in told), told
    assert any("replicast.db " in line and "was 644" in line for line in told), told
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="replicast.datadir"):
        datadir.secure(data)
    assert not caplog.records  # once tightened, nothing more to say


def test_a_server_records_where_it_listens_for_its_lifetime_only(tmp_path, permissive_umask):
    datadir.secure(tmp_path)
    assert datadir.recorded_server(tmp_path) is None
    datadir.record_server(tmp_path, "http://127.0.0.1:8123")
    record = tmp_path / datadir.SERVER_NAME
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert datadir.recorded_server(tmp_path) == "http://127.0.0.1:8123"
    assert [p.name for p in tmp_path.iterdir()] == [datadir.SERVER_NAME]  # no temporary left
    datadir.forget_server(tmp_path)
    assert not record.exists() and datadir.recorded_server(tmp_path) is None


def test_a_record_left_by_a_killed_server_is_ignored(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is now no one's
    (tmp_path / datadir.SERVER_NAME).write_text(
        json.dumps({"url": "http://127.0.0.1:8123", "pid": child.pid}))
    assert datadir.recorded_server(tmp_path) is None
    (tmp_path / datadir.SERVER_NAME).write_text("{not json")
    assert datadir.recorded_server(tmp_path) is None


def test_a_server_takes_back_only_its_own_record(tmp_path):
    (tmp_path / datadir.SERVER_NAME).write_text(
        json.dumps({"url": "http://127.0.0.1:8123", "pid": os.getppid()}))
    datadir.forget_server(tmp_path)  # another process's: a newer server on the folder
    assert datadir.recorded_server(tmp_path) == "http://127.0.0.1:8123"
