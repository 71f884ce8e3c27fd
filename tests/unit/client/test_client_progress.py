"""Progress read from log lines, and log text cut into lines."""

from __future__ import annotations

import pytest

from replicast.client.progress import LogLines, LogProgress, parse_progress
from replicast.models.progress import progress_line


@pytest.mark.parametrize(("line", "expected"), [
    (" 50%|█████     | 2/4 [00:01<00:01, 2.00it/s]", LogProgress(0.5, 2, 4)),
    ("100%|██████████| 28/28 [00:09<00:00,  3.01it/s]", LogProgress(1.0, 28, 28)),
    ("  0%|          | 0/4", LogProgress(0.0, 0, 4)),
    (" 33%|###       | 1/3", LogProgress(1 / 3, 1, 3)),
    (" 45%|████▌     |", LogProgress(0.45)),
    ("step 3/10", LogProgress(0.3, 3, 10)),
    ("Denoising: Step 5 of 20", LogProgress(0.25, 5, 20)),
])
def test_progress_lines_are_read(line, expected):
    assert parse_progress(line) == expected


@pytest.mark.parametrize("line", [
    "Using seed: 1234", "Generated 2 image(s) of 1024x1024 in 0.15s", "", "50% done",
    "step 1/0", "stepped 1/2", "ratio 16/9",
])
def test_other_lines_are_not_progress(line):
    assert parse_progress(line) is None


def test_the_servers_own_progress_lines_read_back_exactly():
    for done in range(5):
        progress = parse_progress(progress_line(done, 4, elapsed=1.5))
        assert progress == LogProgress(done / 4, done, 4)


def test_percent_is_whole_and_steps_past_the_total_stop_at_a_hundred():
    assert LogProgress(2 / 3, 2, 3).percent == 66
    assert parse_progress("step 5/4") == LogProgress(1.0, 5, 4)


def test_log_text_is_cut_into_lines_however_it_arrives():
    lines = LogLines()
    assert lines.feed("Using se") == []
    assert lines.feed("ed: 1\n 25%|██| 1/4\r 50%|") == ["Using seed: 1", " 25%|██| 1/4"]
    assert lines.feed("█████| 2/4\r\ndone") == [" 50%|█████| 2/4"]
    assert lines.flush() == ["done"]
    assert lines.flush() == []
