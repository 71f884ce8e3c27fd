"""What a person sees while a prediction runs.

Status, logs and progress go to stderr; the output (text, and the paths of saved
files) to stdout, so that ``replicast run ... > out.txt`` keeps only the output. On
a terminal, progress is a bar redrawn in place; anywhere else every change is a plain
line, with no escape codes.
"""

from __future__ import annotations

import os
import re
from typing import TextIO

from replicast.client.progress import LogProgress

_CLEAR = "\r\x1b[2K"
_DIM, _BOLD, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"
_BAR_WIDTH = 30
# Control characters but newline and tab: C0, DEL and C1, ESC among them. Text from a
# server or a model must not set a terminal's title, clipboard or screen.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without the control characters a terminal would act on."""
    return _CONTROL.sub("", text)


def is_terminal(out: TextIO, err: TextIO) -> bool:
    """Whether both streams are a terminal that takes escape codes."""
    return (out.isatty() and err.isatty() and os.environ.get("TERM") != "dumb"
            and "NO_COLOR" not in os.environ)


class Display:
    """Status lines, log lines, a progress bar, and streamed text, kept apart."""

    def __init__(self, out: TextIO, err: TextIO, *, terminal: bool, quiet: bool = False) -> None:
        """``quiet`` shows nothing at all (``--json`` prints the JSON by itself)."""
        self.out = out
        self.err = err
        self.terminal = terminal
        self.quiet = quiet
        self._bar: LogProgress | None = None
        self._bar_shown = False
        self._last_percent: int | None = None
        self._text_open = False
        self._text_tail = "\n"
        unicode = (getattr(err, "encoding", "") or "").lower().replace("-", "") == "utf8"
        self._fill, self._empty = ("█", "░") if unicode else ("#", "-")

    def status(self, text: str) -> None:
        """A line about the prediction as a whole."""
        text = printable(text)
        self._line(f"{_BOLD}{text}{_RESET}" if self.terminal else text)

    def note(self, text: str) -> None:
        """A line that is neither status nor log."""
        self._line(printable(text))

    def log(self, line: str) -> None:
        """A line of the prediction's logs."""
        line = printable(line)
        self._line(f"{_DIM}{line}{_RESET}" if self.terminal else line)

    def progress(self, progress: LogProgress) -> None:
        """Draw the bar again (a terminal), or print a line when the percentage moves."""
        if self.quiet:
            return
        self._bar = progress
        if self.terminal:
            self._draw_bar()
        elif progress.percent != self._last_percent:
            self._last_percent = progress.percent
            steps = f" ({progress.done}/{progress.total})" if progress.total else ""
            print(f"progress: {progress.percent}%{steps}", file=self.err, flush=True)

    def text(self, text: str) -> None:
        """Output text, written the moment it arrives."""
        if not text or self.quiet:
            return
        self._hide_bar()
        # Into a file or a pipe the output goes as it is; onto a terminal, made harmless.
        self.out.write(printable(text) if self.out.isatty() else text)
        self.out.flush()
        self._text_tail = text[-1]
        self._text_open = not text.endswith("\n")

    def end_text(self) -> None:
        """End streamed text with a newline if it has none."""
        if self._text_tail != "\n":
            self.out.write("\n")
            self.out.flush()
        self._text_tail = "\n"
        self._text_open = False

    def output(self, line: str) -> None:
        """A whole line of output (a saved file's path, say)."""
        if self.quiet:
            return
        self.end_text()
        self._hide_bar()
        print(printable(line), file=self.out, flush=True)

    def stop_progress(self) -> None:
        """Take the bar away for good."""
        self._hide_bar()
        self._bar = None

    def close(self) -> None:
        """Leave the terminal tidy: no bar, text ended."""
        self.stop_progress()
        self.end_text()

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        self._hide_bar()
        if self._text_open and self.terminal:
            # Text and these lines share the screen: keep them on lines of their own.
            self.end_text()
        print(text, file=self.err, flush=True)
        if self._bar is not None and self.terminal:
            self._draw_bar()

    def _draw_bar(self) -> None:
        if self._bar is None or self._text_open:
            return
        filled = round(self._bar.fraction * _BAR_WIDTH)
        bar = self._fill * filled + self._empty * (_BAR_WIDTH - filled)
        steps = f" {self._bar.done}/{self._bar.total}" if self._bar.total else ""
        self.err.write(f"{_CLEAR}{bar} {self._bar.percent:3d}%{steps}")
        self.err.flush()
        self._bar_shown = True

    def _hide_bar(self) -> None:
        if self._bar_shown:
            self.err.write(_CLEAR)
            self.err.flush()
            self._bar_shown = False
