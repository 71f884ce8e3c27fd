"""Progress lines in tqdm's format, which the official clients parse into ``progress``."""

from __future__ import annotations

_WIDTH = 10


def progress_line(done: int, total: int, elapsed: float | None = None) -> str:
    """``" 50%|█████     | 2/4 [00:01<00:01, 2.00it/s]"`` plus a newline.

    Without ``elapsed`` the timing part is left out.
    """
    fraction = done / total if total else 1.0
    filled = int(fraction * _WIDTH)
    bar = "█" * filled + " " * (_WIDTH - filled)
    if elapsed is None:
        return f"{int(fraction * 100):3d}%|{bar}| {done}/{total}\n"
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 else 0.0
    return (
        f"{int(fraction * 100):3d}%|{bar}| {done}/{total}"
        f" [{_clock(elapsed)}<{_clock(remaining)}, {rate:.2f}it/s]\n"
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def preview_steps(steps: int, previews: int) -> list[int]:
    """The steps (1 to ``steps``) after which each of ``previews`` previews is sent:
    spread evenly, the last before the final step (so it differs from the image)."""
    if previews <= 0 or steps <= 1:
        return []
    points = [max(1, min(steps - 1, round((i + 1) * steps / (previews + 1))))
              for i in range(previews)]
    return sorted(set(points))
