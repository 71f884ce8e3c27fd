"""Saving a prediction's output files: named after their URLs, never over a file."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

_UNSAFE = re.compile(r"[\x00-\x1f/\\]")


def is_output_file(item: object) -> bool:
    """Whether an output item is a file the server serves (``.../outputs/...``)."""
    if not isinstance(item, str) or not item.startswith(("http://", "https://")):
        return False
    return "/outputs/" in urlsplit(item).path


def file_name(url: str) -> str:
    """The name a URL's file is saved under: the last part of its path, made safe."""
    name = _UNSAFE.sub("_", unquote(urlsplit(url).path.rsplit("/", 1)[-1])).strip()
    name = name.lstrip(".")
    return name or "output"


def candidates(folder: Path, name: str) -> Iterator[Path]:
    """``name``, then ``stem-1.ext``, ``stem-2.ext``, ...: where a file may go."""
    first = folder / name
    yield first
    for number in itertools.count(1):
        yield first.with_name(f"{first.stem}-{number}{first.suffix}")


def create_unique(folder: Path, name: str) -> tuple[Path, IO[bytes]]:
    """A new file in ``folder`` named after ``name``, open for writing.

    Created exclusively, so that an existing file, or one made at the same moment by
    another process, is never written over.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for path in candidates(folder, name):
        try:
            return path, path.open("xb")
        except FileExistsError:
            continue
    raise AssertionError("unreachable")
