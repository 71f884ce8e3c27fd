"""Files between the API and a predictor's process, which share the disk.

Inputs: each ``Path``/``File`` input (a URL or a data URI) is fetched into a
temporary folder of the prediction's own, under a safe name that keeps its
extension (for a file uploaded to this server, the name it was uploaded with), and
the predictor gets the path. Outputs: each ``{"__file__": path}`` the
predictor returns becomes an output file with a URL; two files of the same name
get different names.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from replicast.errors import ModelError
from replicast.models.base import RunContext
from replicast.predictors.protocol import FILE_KEY

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_inputs(schema: dict[str, Any]) -> dict[str, bool]:
    """The inputs of a Cog schema that are files (``format: uri``): name to is-a-list."""
    found = {}
    properties = schema["components"]["schemas"]["Input"].get("properties", {})
    for name, prop in properties.items():
        if prop.get("format") == "uri":
            found[name] = False
        elif prop.get("type") == "array" and (prop.get("items") or {}).get("format") == "uri":
            found[name] = True
    return found


def file_name(url: str) -> str:
    """A safe local name for the file behind ``url``, keeping its extension."""
    if url.startswith("data:"):
        mime = url[5:].split(",", 1)[0].split(";", 1)[0]
        return "input" + (mimetypes.guess_extension(mime) or "")
    return safe_name(Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name)


def safe_name(name: str) -> str:
    """``name`` as a local file name that keeps its extension: no separators or odd
    characters, not hidden, at most 100 characters (``input`` when nothing is left)."""
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = _SAFE_NAME.sub("", suffix)[:16]
    stem = _SAFE_NAME.sub("_", stem).strip("._")
    return (stem or "input")[:100 - len(suffix) - 1] + (f".{suffix}" if suffix else "")


def unique(name: str, used: set[str]) -> str:
    """``name``, or ``name-1``, ``name-2``... (before the extension): one not in ``used``."""
    candidate, number = name, 1
    stem, dot, suffix = name.partition(".")
    while candidate in used:
        candidate = f"{stem}-{number}{dot}{suffix}"
        number += 1
    used.add(candidate)
    return candidate


class InputFolder:
    """The temporary folder of one prediction's input files."""

    def __init__(self) -> None:
        self.path: Path | None = None

    async def materialize(self, context: RunContext, inputs: dict[str, Any],
                          files: dict[str, bool]) -> dict[str, Any]:
        """``inputs`` with every file URL replaced by the path of a local copy."""
        arguments = dict(inputs)
        used: set[str] = set()
        for name, is_list in files.items():
            value = arguments.get(name)
            if value is None:
                continue
            if self.path is None:
                self.path = Path(await asyncio.to_thread(tempfile.mkdtemp,
                                                         prefix="replicast-input-"))
            paths = []
            for url in value if is_list else [value]:
                own = await context.own_file(url)
                if own is not None:  # uploaded here: keep the name it came with
                    data, local_name = own.data, safe_name(own.name)
                else:
                    data, local_name = await context.fetch_file(url), file_name(url)
                target = self.path / unique(local_name, used)
                await asyncio.to_thread(target.write_bytes, data)
                paths.append(str(target))
            arguments[name] = paths if is_list else paths[0]
        return arguments

    async def remove(self) -> None:
        if self.path is not None:
            await asyncio.to_thread(shutil.rmtree, self.path, True)
            self.path = None


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
