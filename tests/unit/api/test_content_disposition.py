"""The name a download is saved under."""

import pytest

from replicast.api.files import content_disposition


@pytest.mark.parametrize("name,fallback,exact", [
    ("notes.txt", "notes.txt", "notes.txt"),
    ('../my "report" é.html', "my _report_ _.html", "my%20%22report%22%20%C3%A9.html"),
    # A name stored before names lost their hidden characters still cannot disguise itself.
    ("invoice\u202egpj.exe", "invoicegpj.exe", "invoicegpj.exe"),
    ("\u2066photo\u2069\u200b.png\r\n", "photo.png", "photo.png"),
    ("\u202e", "file", "file"),
])
def test_the_name_is_the_visible_base_name(name, fallback, exact):
    assert content_disposition(name) == \
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
