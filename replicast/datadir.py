"""The data folder: its modes, the lock that gives one process at a time its predictions,
and the record of where the server on it listens, for the command line to find."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from replicast import private
from replicast.disk import disk_full, is_full
from replicast.errors import ConfigError, ReplicastError

LOCK_NAME = "replicast.lock"
SERVER_NAME = "replicast-server.json"
# What Replicast keeps at the top of the folder. Earlier versions made them with the
# umask's modes (0644 files, 0755 folders, readable by any user of the host).
_KEPT = ("replicast.db", "replicast.db-wal", "replicast.db-shm", LOCK_NAME,
         "replicast-run.log", SERVER_NAME, "outputs", "files")

log = logging.getLogger(__name__)


def secure(data_dir: Path) -> None:
    """Make the data folder 0700 if missing; tighten what earlier versions left open."""
    private.make_folders(data_dir)
    for path in (data_dir, *(data_dir / name for name in _KEPT)):
        try:
            was = private.tighten(path)
        except OSError as exc:  # not ours to change: say so, and go on
            log.warning("cannot make %s private to this user: %s", path, exc)
            continue
        if was is not None:
            log.warning("made %s private to this user (mode %o, was %o)", path,
                        private.FOLDER_MODE if path.is_dir() else private.FILE_MODE, was)


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's lock, or raise ``ConfigError`` if another process holds it.

    Two processes running the same SQLite store's predictions would run each one
    twice; the lock makes the second refuse to start instead.
    """
    try:
        secure(data_dir)
        lock = data_dir / LOCK_NAME
        private.create_file(lock)
        handle = open(lock, "r+")  # noqa: SIM115
    except OSError as exc:
        raise _unusable(data_dir, exc) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            f"Another Replicast process is already using {data_dir}; stop it or set "
            "REPLICAST_DATA_DIR to another folder"
        ) from None
    try:
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        except OSError as exc:
            raise _unusable(data_dir, exc) from exc
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):  # what could not be written is not written again
            handle.close()


def record_server(data_dir: Path, url: str) -> None:
    """Say that this process serves the API at ``url``: ``replicast run`` and
    ``replicast predictions`` on the same folder use it then. Written whole or not at
    all, 0600 like everything in the folder (it holds no secret: a command that reads
    it also needs the folder's database to get a key)."""
    temporary = data_dir / f".{SERVER_NAME}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    private.create_file(temporary)
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n", encoding="utf-8")
    os.replace(temporary, data_dir / SERVER_NAME)


def forget_server(data_dir: Path) -> None:
    """Take back this process's ``record_server``, unless another process's replaced it."""
    with contextlib.suppress(OSError):
        if _read_record(data_dir / SERVER_NAME).get("pid") == os.getpid():
            (data_dir / SERVER_NAME).unlink()


def recorded_server(data_dir: Path) -> str | None:
    """The URL of the server running on this folder, if one recorded it and still runs."""
    try:
        record = _read_record(data_dir / SERVER_NAME)
    except OSError:
        return None
    url, pid = record.get("url"), record.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or not _alive(pid):
        return None  # left by a server that was killed
    return url


def _read_record(path: Path) -> dict[str, object]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, though not ours to signal
        return True
    return True


def _unusable(data_dir: Path, error: OSError) -> ReplicastError:
    """The error for a data folder that cannot be written to: full, or not allowed."""
    if is_full(error):
        return disk_full(data_dir, "cannot write the lock file replicast.lock")
    return ConfigError(f"REPLICAST_DATA_DIR: cannot write to {data_dir}: {error.strerror}")
