"""What a person sees: plain lines off a terminal, a bar redrawn on one."""

from __future__ import annotations

import io

from replicast.client.display import Display
from replicast.client.progress import LogProgress


def display(terminal, quiet=False):
    out, err = io.StringIO(), io.StringIO()
    return Display(out, err, terminal=terminal, quiet=quiet), out, err


def test_off_a_terminal_every_change_is_a_plain_line_without_escape_codes():
    shown, out, err = display(terminal=False)
    shown.status("Status: processing")
    for done in (0, 1, 1, 2):
        shown.progress(LogProgress(done / 2, done, 2))
    shown.log("Using seed: 3")
    shown.text("hello")
    shown.text(" world")
    shown.close()
    assert "\x1b" not in err.getvalue() + out.getvalue()
    assert "\r" not in err.getvalue()
    assert err.getvalue().splitlines() == [
        "Status: processing", "progress: 0% (0/2)", "progress: 50% (1/2)",
        "progress: 100% (2/2)", "Using seed: 3"]
    assert out.getvalue() == "hello world\n"


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_cleared_for_other_lines():
    shown, _, err = display(terminal=True)
    shown.progress(LogProgress(0.5, 2, 4))
    shown.log("a log line")
    shown.stop_progress()
    text = err.getvalue()
    assert text.startswith("\r\x1b[2K") and " 50% 2/4" in text
    assert text.count(" 50% 2/4") == 2  # drawn, cleared for the log line, drawn again
    assert text.endswith("\r\x1b[2K")  # and gone at the end


def test_quiet_shows_nothing():
    shown, out, err = display(terminal=False, quiet=True)
    shown.status("s")
    shown.progress(LogProgress(1.0))
    shown.text("t")
    shown.output("o")
    shown.close()
    assert out.getvalue() == err.getvalue() == ""


def test_control_characters_are_dropped_but_newlines_and_tabs_kept():
    from replicast.client.display import printable

    assert printable("a\x1b]52;c;ZXZpbA==\x07b\tc\nd\x9b2J\x7f") == "a]52;c;ZXZpbA==b\tc\nd2J"
