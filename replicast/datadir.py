"""The data folder, and the lock that gives one process at a time its predictions."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from replicast.errors import ConfigError


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's lock, or raise ``ConfigError`` if another process holds it.

    Two processes running the same SQLite store's predictions would run each one
    twice; the lock makes the second refuse to start instead.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "replicast.lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            f"Another Replicast process is already using {data_dir}; stop it or set "
            "REPLICAST_DATA_DIR to another folder"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
