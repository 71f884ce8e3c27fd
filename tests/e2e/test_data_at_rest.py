"""What a real server leaves on disk: a data folder only its user may read, whatever the
umask, and no removed data (secrets, data past retention) lingering in the SQLite WAL."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import replicate

from replicast import ids
from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"
SCHNELL = "/v1/models/black-forest-labs/flux-schnell/predictions"
ECHO = "/v1/models/replicast/echo/predictions"


def modes_under(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def loose(modes: dict[str, int], root: Path) -> dict[str, str]:
    """What is not 0700 (a folder) or 0600 (a file)."""
    return {name: oct(mode) for name, mode in modes.items()
            if mode != (0o700 if (root / name).is_dir() else 0o600)}


def use(server: ServerProcess) -> None:
    """Make the server write what it writes: a prediction with output files, an upload."""
    with server.client() as http:
        response = http.post(SCHNELL, headers={"Prefer": "wait"},
                             json={"input": {"prompt": "a lighthouse", "num_outputs": 2}})
        assert response.json()["status"] == "succeeded", response.text
        uploaded = http.post("/v1/files", files={"content": ("a.txt", b"notes", "text/plain")})
        assert uploaded.status_code == 201, uploaded.text


def test_the_data_folder_and_everything_in_it_are_the_users_alone(tmp_path):
    data = tmp_path / "data"  # the server makes it; its log stays outside
    server = ServerProcess(tmp_path, env={"REPLICAST_DATA_DIR": str(data)}, umask=0)
    server.start()
    try:
        use(server)
        modes = modes_under(data)
        assert {"replicast.db", "replicast.db-wal", "replicast.db-shm", "replicast.lock",
                "outputs", "files"} <= set(modes)
        assert any(name.startswith("outputs/") and name.endswith(".webp") for name in modes)
        assert loose(modes, data) == {}
    finally:
        server.stop()


def test_a_folder_an_earlier_version_left_readable_is_tightened_at_start(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(tmp_path, env={"REPLICAST_DATA_DIR": str(data)}, umask=0o022)
    server.start()
    use(server)
    server.stop()
    # As earlier versions left it: the umask's 0755 folders and 0644 files.
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    server.start()
    try:
        modes = modes_under(data)
        for name in (".", "replicast.db", "replicast.lock", "outputs", "files"):
            assert modes[name] == (0o700 if (data / name).is_dir() else 0o600), name
        assert f"made {data} private to this user (mode 700, was 755)" in server.output
        assert f"made {data / 'replicast.db'} private to this user" in server.output
    finally:
        server.stop()


def stored_bytes(data: Path) -> bytes:
    """The database's files: the database, its WAL and the WAL's index."""
    return b"".join(p.read_bytes() for p in sorted(data.glob("replicast.db*")) if p.is_file())


def wait_until_gone(data: Path, value: str, timeout: float = 15.0) -> None:
    """Until ``value`` is in none of the database's files (the server empties its WAL a
    moment after a removal; nothing outside the server tells when)."""
    give_up = time.monotonic() + timeout
    while value.encode() in stored_bytes(data):
        assert time.monotonic() < give_up, f"{value} is still in {data}/replicast.db*"
        time.sleep(0.2)


def test_a_secret_input_leaves_the_database_files_once_its_prediction_ends(tmp_path,
                                                                           transport):
    server = ServerProcess(tmp_path, env={
        "REPLICAST_PREDICTORS": f"test/inputs={PREDICTORS / 'inputs.py'}:Predictor"})
    server.start(timeout=60)
    try:
        secret = "s3cret-" + ids.random_id(24)
        client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                  transport=transport)
        prediction = client.models.predictions.create("test/inputs",
                                                      input={"text": "hi", "key": secret})
        prediction.wait()
        assert prediction.status == "succeeded", prediction.error
        assert prediction.output["key"] == secret[::-1]
        wait_until_gone(tmp_path, secret)
        assert client.predictions.get(prediction.id).input["key"] == "**********"
    finally:
        server.stop()


def test_data_past_retention_leaves_the_database_files(tmp_path):
    server = ServerProcess(tmp_path, env={"REPLICAST_RETENTION": "1s"}).start()
    try:
        private = "private-" + ids.random_id(24)
        with server.client() as http:
            created = http.post(ECHO, headers={"Prefer": "wait"},
                                json={"input": {"prompt": f"a {private} b"}}).json()
            assert created["output"] == ["a", f" {private}", " b"]
            give_up = time.monotonic() + 15
            while not http.get(created["urls"]["get"]).json()["data_removed"]:
                assert time.monotonic() < give_up, "the data was never removed"
                time.sleep(0.2)
        wait_until_gone(tmp_path, private)
    finally:
        server.stop()
