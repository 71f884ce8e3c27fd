"""Progress read from a prediction's logs.

Models log tqdm's lines (`` 50%|█████     | 2/4 [00:01<00:01, 2.00it/s]``) or lines
like ``step 2/4``; the official clients read the first kind into ``progress`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TQDM = re.compile(r"^\s*(\d{1,3})%\s*\|[^|]*\|\s*(?:(\d+)/(\d+))?")
_STEP = re.compile(r"\bstep\s+(\d+)\s*(?:/|of)\s*(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LogProgress:
    """How far a prediction is: a fraction, and the steps when the line gave them."""

    fraction: float
    done: int | None = None
    total: int | None = None

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)


def parse_progress(line: str) -> LogProgress | None:
    """The progress a log line reports, or None if it is not a progress line."""
    if match := _TQDM.match(line):
        percent, done, total = match.groups()
        if done is not None and total is not None and int(total) > 0:
            return _steps(int(done), int(total))
        return LogProgress(min(int(percent), 100) / 100)
    if match := _STEP.search(line):
        done, total = int(match[1]), int(match[2])
        return _steps(done, total) if total > 0 else None
    return None


def _steps(done: int, total: int) -> LogProgress:
    return LogProgress(min(done, total) / total, done, total)


class LogLines:
    """Log text as it arrives, in whole lines; a line ends at ``\\n`` or at the
    ``\\r`` a progress bar redraws itself with."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """The lines ``text`` completes."""
        *lines, self._pending = re.split(r"\r\n|\r|\n", self._pending + text)
        return lines

    def flush(self) -> list[str]:
        """What is left of an unfinished last line."""
        rest, self._pending = self._pending, ""
        return [rest] if rest.strip() else []
