"""Files and folders only the server's own user may read.

The data folder holds the database (with the server's signing keys and the accounts'
webhook secrets), and every prediction's inputs, outputs and uploaded files: folders are
made 0700 and files 0600, set explicitly so that no umask loosens them. Predictors run as
the same user, so these modes keep out other users of the host, not predictors.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_folders(path: Path) -> None:
    """Create the folder ``path`` and its missing parents, each 0700."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=FOLDER_MODE)
            # mkdir's mode passes through the umask, which could take owner bits away.
            os.chmod(folder, FOLDER_MODE)


def create_file(path: Path) -> None:
    """Create the file ``path``, empty and 0600, unless it exists."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)


def tighten(path: Path) -> int | None:
    """Take away the group's and others' access to ``path`` (a file or folder, not a
    link); the mode it had if it changed, else None (also when there is no such path)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(found.st_mode)
    if stat.S_ISLNK(found.st_mode) or not mode & 0o077:
        return None
    wanted = FOLDER_MODE if stat.S_ISDIR(found.st_mode) else FILE_MODE
    os.chmod(path, wanted)
    return mode
