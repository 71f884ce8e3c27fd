"""Uploaded files' names, kept to what a reader sees.

A name is shown to people: in listings, and as the name a browser saves a download
under. Unicode format characters are invisible yet change what is shown (U+202E
RIGHT-TO-LEFT OVERRIDE makes ``invoice\\u202egpj.exe`` read as ``invoiceexe.jpg``),
and control characters and line separators have no place in one line of text, so
names keep neither: they are taken out on upload, and again from the name a download
is given, for a file stored before they were.
"""

from __future__ import annotations

import unicodedata

# Control, format (bidirectional overrides and isolates, zero-width characters, the
# byte-order mark, tags...), lone surrogates, and line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def visible(name: str) -> str:
    """``name`` without the characters that are not shown as themselves."""
    if name.isascii() and name.isprintable():
        return name
    return "".join(char for char in name if unicodedata.category(char) not in _HIDDEN)
