"""A small disk of the tests' own that they fill up: a tmpfs, which needs root to mount."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

_CHUNK = 1 << 20


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted at ``path``, filled and freed on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    @property
    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Write a filler file until only ``leave`` bytes are left (none by default)."""
        with open(self._filler, "ab") as handle:
            while (room := self.free_bytes - leave) > 0:
                try:
                    handle.write(b"\0" * min(_CHUNK, room))
                    handle.flush()
                except OSError:
                    break  # full to the last byte

    def free(self) -> None:
        """Delete the filler."""
        self._filler.unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "32m") -> Iterator[SmallDisk]:
    """Mount a tmpfs of ``size`` on ``folder`` while the block runs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root; tests/unit/store/"
                    "test_health.py covers SQLite's full database without one")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                    str(folder)], check=True)
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
