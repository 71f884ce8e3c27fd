"""File names keep only what a reader sees."""

import pytest

from replicast.files.names import visible


@pytest.mark.parametrize("name,kept", [
    ("photo.png", "photo.png"),
    ("réport 日本.txt", "réport 日本.txt"),
    # Bidirectional overrides, embeddings and isolates, which reorder what is shown.
    ("invoice\u202egpj.exe", "invoicegpj.exe"),
    ("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u061cx.png", "x.png"),
    # Zero-width and invisible characters, the byte-order mark, tags, a soft hyphen.
    ("\u200ba\u200c\u200db\u200e\u200f\u2060\ufeff\U000e0041\u00adc.pdf", "abc.pdf"),
    # Controls, lone surrogates, line and paragraph separators.
    ("a\x00b\tc\x7fd\x85e\ud800f\u2028g\u2029.txt", "abcdefg.txt"),
    ("\u202e\u200b", ""),
])
def test_hidden_characters_are_taken_out(name, kept):
    assert visible(name) == kept
