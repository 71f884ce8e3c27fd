"""Which wheels of bench/gpu/wheels.txt this interpreter lacks: ``name==version`` lines.

A distribution is wanted when it is not installed, or when its installed version is
outside the range Replicast needs (the third column).
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


def wanted(listing: Path) -> list[str]:
    lines = []
    for line in listing.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, version, needed, _kind = line.split()
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}=={version}")
            continue
        try:
            fits = needed == "-" or Version(installed) in SpecifierSet(needed)
        except InvalidVersion:
            fits = False
        if not fits:
            lines.append(f"{name}=={version}")
    return lines


if __name__ == "__main__":
    print("\n".join(wanted(Path(sys.argv[1]))))
