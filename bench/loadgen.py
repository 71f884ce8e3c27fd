"""Running wrk with one of our Lua scripts and reading the line it prints."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class Load:
    """What a wrk run measured."""

    ok: int
    other: int
    """Rejections (sync, get) or polls (create_poll)."""
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("[")[0].strip()


def run(script: str, url: str, *args: str, connections: int, duration: float,
        threads: int = 1) -> Load:
    """``wrk`` against ``url`` with ``lua/<script>.lua`` and its arguments."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
               "-s", str(LUA / f"{script}.lua"), url, "--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT ok=(\d+) (?:rejected|polls)=(\d+) seconds=([\d.]+) "
                      r"p50_ms=([\d.]+) p99_ms=([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    ok, other, seconds, p50, p99 = match.groups()
    return Load(int(ok), int(other), float(seconds), float(p50), float(p99))
