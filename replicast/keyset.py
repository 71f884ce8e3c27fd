"""Keyset pages: lists read newest first, from a position (``created_at``, ``id``).

A page read downwards (``before`` a position, or from the top) has older pages after it
when more rows were there; a page read upwards (``after`` a position, returned newest
first all the same) has newer pages before it when more rows were there. Predictions and
files are paged alike; ``api/pagination.py`` turns positions into opaque cursors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

Position = tuple[datetime, str]
"""Where a row sits in a listing: its creation time, then its id."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows, newest first, with where the pages around it start."""

    results: list[T]
    next: Position | None
    """Pass as ``before`` to read the next (older) page."""
    previous: Position | None
    """Pass as ``after`` to read the previous (newer) page."""


def page(results: list[T], position: Callable[[T], Position], *, more: bool,
         before: Position | None, after: Position | None) -> Page[T]:
    """The page of ``results`` read from ``before``/``after`` (both None: the newest);
    ``more``: the store had rows beyond them in the direction read."""
    first = position(results[0]) if results else None
    last = position(results[-1]) if results else None
    if after is not None:
        return Page(results, next=last, previous=first if more else None)
    return Page(results, next=last if more else None,
                previous=first if before is not None else None)
