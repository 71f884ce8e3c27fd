"""A run's input files: each distinct URL once, under safe unique names, within caps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from replicast.errors import ModelError
from replicast.input_files import FileLimits, InputFiles
from replicast.models.base import OwnFile

OWN = "http://here/v1/files/abc"


class Source:
    """Remote files of ``size`` bytes each, and one uploaded file (``OWN``)."""

    def __init__(self, size: int = 10) -> None:
        self.size = size
        self.fetched: list[str] = []

    async def fetch_to(self, url: str, path: Path) -> int:
        self.fetched.append(url)
        await asyncio.to_thread(path.write_bytes, bytes(self.size))
        return self.size

    async def read_own(self, url: str) -> OwnFile | None:
        return OwnFile("My Photo.PNG", "image/png", b"png") if url == OWN else None


async def test_each_distinct_url_is_fetched_once_under_its_own_name():
    source = Source()
    files = InputFiles(source.fetch_to, source.read_own)
    urls = ["https://a/x.png", OWN, "https://b/x.png", "https://a/x.png", OWN]
    try:
        await files.prepare(urls)
        assert source.fetched == ["https://a/x.png", "https://b/x.png"]
        paths = [await files.get(url) for url in urls]
        assert [p.name for p in paths] == ["x.png", "My_Photo.PNG", "x-1.png", "x.png",
                                           "My_Photo.PNG"]
        assert paths[1].read_bytes() == b"png"
    finally:
        await files.remove()
    assert not paths[0].parent.exists()


async def test_more_files_than_allowed_are_refused_before_any_is_fetched():
    source = Source()
    files = InputFiles(source.fetch_to, source.read_own, FileLimits(max_files=3))
    with pytest.raises(ModelError, match="names 4 files; at most 3"):
        await files.prepare(["https://a/1"] * 4)
    assert source.fetched == []


async def test_files_larger_in_all_than_allowed_stop_the_fetching():
    source = Source(size=60)
    files = InputFiles(source.fetch_to, source.read_own, FileLimits(max_bytes=100))
    try:
        with pytest.raises(ModelError, match="larger than 100 bytes in all"):
            await files.prepare([f"https://a/{n}" for n in range(5)])
    finally:
        await files.remove()
    assert source.fetched == ["https://a/0", "https://a/1"]
    # Named again and again, one file counts once.
    files = InputFiles(source.fetch_to, source.read_own, FileLimits(max_bytes=100))
    try:
        await files.prepare(["https://a/0"] * 50)
    finally:
        await files.remove()
