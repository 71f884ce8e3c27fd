"""A prediction as the pages show it, made from its API representation.

The pages read predictions exactly as the API returns them
(``predictions.wire.to_json`` with the server's output links), so output URLs come
signed. Output files of this server are shown through same-origin paths
(``/outputs/...``), which the pages' Content-Security-Policy allows whatever origin
the prediction was created under. ``static/app.js`` makes the same choices for
what arrives live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from replicast.urls import OUTPUTS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


@dataclass(frozen=True, slots=True)
class OutputItem:
    """One piece of a prediction's output."""

    kind: str
    """``image`` (shown inline), ``file`` or ``link`` (linked), ``text``."""
    value: str
    """The URL to show or link, or the text."""
    name: str = ""
    """A file's name."""


def local_url(url: str, base_url: str, root: str) -> str | None:
    """The same-origin path of one of this server's output file URLs; None for others."""
    prefix = f"{base_url}{OUTPUTS}/"
    return f"{root}{url[len(base_url):]}" if url.startswith(prefix) else None


def output_items(output: Any, base_url: str, root: str) -> list[OutputItem]:
    """What to show of an output: files of this server, other links, and text (the
    pieces of a text iterator's output joined, as they are printed)."""
    values = output if isinstance(output, list) else [] if output is None else [output]
    items: list[OutputItem] = []
    for value in values:
        if not isinstance(value, str):
            text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
            items.append(OutputItem("text", text + "\n"))
            continue
        local = local_url(value, base_url, root)
        if local is not None:
            name = unquote(urlsplit(local).path.rsplit("/", 1)[-1])
            kind = "image" if name.lower().endswith(IMAGE_EXTENSIONS) else "file"
            items.append(OutputItem(kind, local, name))
        elif value.startswith(("http://", "https://")) and " " not in value.strip():
            items.append(OutputItem("link", value))
        elif items and items[-1].kind == "text":
            items[-1] = OutputItem("text", items[-1].value + value)
        else:
            items.append(OutputItem("text", value))
    return items


def thumbnail(output: Any, base_url: str, root: str) -> str | None:
    """The path of the first image in an output, if it has one."""
    return next((item.value for item in output_items(output, base_url, root)
                 if item.kind == "image"), None)


def input_rows(values: dict[str, Any]) -> list[tuple[str, str]]:
    """An input as name and value text."""
    return [(name, value if isinstance(value, str) else orjson.dumps(value).decode())
            for name, value in values.items()]


def seconds(value: Any) -> str:
    """A duration from ``metrics``: ``1.23 s``."""
    return f"{float(value):.2f} s" if isinstance(value, int | float) else ""
