"""The disk under the data folder: telling a full one from other failures to write."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from replicast.errors import DiskFull

# Below this much free space, an I/O error that does not say why is taken for a full
# disk: SQLite reports some writes that found no space (its shared-memory file) so.
_NEARLY_FULL_BYTES = 1 << 20


def is_full(error: OSError) -> bool:
    """Whether ``error`` says the disk (or the user's quota on it) is full."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def nearly_full(folder: Path) -> bool:
    """Whether the disk under ``folder`` has (almost) no space left for this user."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES


def disk_full(folder: Path, what: str) -> DiskFull:
    """The error for a write under ``folder`` that found the disk full; ``what`` says
    what could not be written."""
    return DiskFull(f"the disk under {folder} is full: {what}")
