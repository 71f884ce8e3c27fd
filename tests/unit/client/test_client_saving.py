"""Output files: which items are files, what they are named, never over a file."""

from __future__ import annotations

import pytest

from replicast.client.saving import create_unique, file_name, is_output_file

URL = "http://127.0.0.1:8000/outputs/1795352400.sig/pred/run/out-0.webp"


def test_files_are_the_servers_output_urls():
    assert is_output_file(URL)
    assert is_output_file("https://replicast.example/replicate/outputs/1.s/p/r/a.png")
    assert not is_output_file("hello /outputs/ there")
    assert not is_output_file("http://127.0.0.1:8000/v1/files/abc")
    assert not is_output_file(["http://x/outputs/a"])


@pytest.mark.parametrize(("url", "name"), [
    (URL, "out-0.webp"),
    ("http://h/outputs/1.s/p/r/my%20image.png?x=1#f", "my image.png"),
    ("http://h/outputs/1.s/p/r/..%2F..%2Fetc%2Fpasswd", "_.._etc_passwd"),
    ("http://h/outputs/1.s/p/r/.hidden", "hidden"),
    ("http://h/outputs/1.s/p/r/", "output"),
    ("http://h/outputs/1.s/p/r/a%0Ab", "a_b"),
])
def test_a_file_is_named_after_its_url_and_cannot_leave_the_folder(url, name):
    assert file_name(url) == name


def test_existing_files_are_never_written_over(tmp_path):
    (tmp_path / "out-0.webp").write_bytes(b"mine")
    (tmp_path / "out-0-1.webp").write_bytes(b"mine too")
    path, handle = create_unique(tmp_path, "out-0.webp")
    with handle:
        handle.write(b"new")
    assert path == tmp_path / "out-0-2.webp"
    assert (tmp_path / "out-0.webp").read_bytes() == b"mine"
    assert (tmp_path / "out-0-1.webp").read_bytes() == b"mine too"
    assert path.read_bytes() == b"new"


def test_a_name_without_an_extension_is_numbered_too(tmp_path):
    first, handle = create_unique(tmp_path / "new", "output")
    handle.close()
    second, handle = create_unique(tmp_path / "new", "output")
    handle.close()
    assert (first.name, second.name) == ("output", "output-1")
