"""Files between the API and a predictor's process, which share the disk.

Inputs: each ``Path``/``File`` input is a file the worker fetched before the run
(``RunContext.input_file``), linked into a temporary folder of the prediction's own,
which lives until the predictor's process is done with the prediction (a cancel's wind
down included); a URL given twice is the same path twice. Outputs: each
``{"__file__": path}`` the predictor returns becomes an output file with a URL; two
files of the same name get different names.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from replicast.errors import ModelError
from replicast.input_files import unique
from replicast.models.base import RunContext
from replicast.predictors.protocol import FILE_KEY


class InputFolder:
    """The temporary folder of one prediction's input files."""

    def __init__(self) -> None:
        self.path: Path | None = None

    async def materialize(self, context: RunContext, inputs: dict[str, Any],
                          files: dict[str, bool]) -> dict[str, Any]:
        """``inputs`` with every file URL replaced by the path of its local file."""
        arguments = dict(inputs)
        linked: dict[str, str] = {}
        for name, is_list in files.items():
            value = arguments.get(name)
            if value is None:
                continue
            paths = []
            for url in value if is_list else [value]:
                if url not in linked:
                    linked[url] = str(await self._link(await context.input_file(url)))
                paths.append(linked[url])
            arguments[name] = paths if is_list else paths[0]
        return arguments

    async def _link(self, source: Path) -> Path:
        if self.path is None:
            self.path = Path(await asyncio.to_thread(tempfile.mkdtemp,
                                                     prefix="replicast-input-"))
        target = self.path / source.name  # names are unique among the run's files
        await asyncio.to_thread(_link_or_copy, source, target)
        return target

    async def remove(self) -> None:
        if self.path is not None:
            await asyncio.to_thread(shutil.rmtree, self.path, True)
            self.path = None


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no second copy of the bytes), or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class OutputFiles:
    """Stores the files one prediction returns, each under a name of its own."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self._used: set[str] = set()

    async def to_urls(self, value: Any) -> Any:
        """``value`` with each ``{"__file__": path}`` stored, as its URL."""
        if isinstance(value, dict):
            if set(value) == {FILE_KEY}:
                return await self._store(Path(value[FILE_KEY]))
            return {k: await self.to_urls(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.to_urls(v) for v in value]
        return value

    async def _store(self, path: Path) -> str:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ModelError(f"The model returned the file {path}, which cannot be read: "
                             f"{exc.strerror}") from None
        name = path.name if path.name not in ("", ".", "..") else "output"
        return await self.context.save_file(unique(name, self._used), data)
