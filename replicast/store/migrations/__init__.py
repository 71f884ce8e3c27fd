"""Numbered SQL migrations, one folder per SQL dialect."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: its number, its name and its SQL."""

    version: int
    name: str
    sql: str


def load(dialect: str) -> list[Migration]:
    """Every migration for ``dialect`` (a folder beside this file), in order."""
    found = []
    for entry in resources.files(__package__).joinpath(dialect).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return found
