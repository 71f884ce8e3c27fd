"""Starting the servers under test on loopback, and measuring their start and memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
COG_PEER = ROOT.parent / "shared" / "tools" / "cog-peer.sh"
COG_VENV = ROOT / ".scratch" / "peers" / "cog"
TOKEN = "r8_BenchmarkTokenForReplicastAndNothingElse"


@dataclass
class Server:
    """A running server process."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    seconds_to_ready: float

    def rss_bytes(self) -> int:
        """Resident memory of the server and every process it started."""
        return sum(_rss(pid) for pid in _tree(self.process.pid))

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server and every process it started have used."""
        return sum(_cpu(pid) for pid in _tree(self.process.pid))

    def stop_like_ctrl_c(self) -> None:
        """Stop it as Ctrl-C would: it winds down, and what writes at exit writes (cProfile,
        bench.segments' hooks)."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# One token sends thousands of requests a second here: measure the server, not its limits.
NO_RATE_LIMITS = {"REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"}


def start_replicast(port: int, name: str = "Replicast", *args: str,
                    source: Path | None = None, profile_to: Path | None = None,
                    path_first: Path | None = None, extra_env: dict[str, str] | None = None
                    ) -> Server:
    """``replicast serve`` with embedded defaults on a fresh data folder (and ``args``);
    with ``source``, the ``replicast`` package of that checkout rather than this one;
    with ``profile_to``, under cProfile, which writes there once the server has stopped;
    ``path_first``: a folder ahead of everything on its ``PYTHONPATH``; ``extra_env``:
    more environment variables."""
    data = Path(tempfile.mkdtemp(prefix="replicast-bench-"))
    env = {**os.environ, "REPLICAST_DATA_DIR": str(data), "REPLICAST_API_TOKEN": TOKEN,
           "REPLICAST_LOG_LEVEL": "warning", **NO_RATE_LIMITS, **(extra_env or {})}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    if path_first is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path_first),
                                                          env.get("PYTHONPATH")]))
    profiler = [] if profile_to is None else ["-m", "cProfile", "-o", str(profile_to)]
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, *profiler, "-m", "replicast", "serve", "--port", str(port), *args],
        env=env,
        stdout=open(data / "server.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True, cwd=source,
    )
    base = f"http://127.0.0.1:{port}"
    _wait(process, lambda: httpx.get(f"{base}/openapi.json").status_code == 200)
    if args:  # serving predictors: ready once they are set up
        _wait(process, lambda: all(
            m.get("setup", {}).get("status", "succeeded") == "succeeded"
            for m in httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
            .json()["results"]))
    return Server(name, process, base, time.monotonic() - began)


def cog_predictor(port: int) -> Path:
    """The ``predict.py`` the Cog peer on ``port`` serves (written when it starts)."""
    return _cog_work(port) / "predict.py"


def _cog_work(port: int) -> Path:
    return ROOT / ".scratch" / "peers" / f"cog-peer-text-{port}"


def cog_text_predictor(port: int) -> str:
    """The reference (``path:Runner``) of the predict.py the Cog peer serves, which a
    start of the peer on ``port`` writes (Cog installed first if need be)."""
    ensure_cog()
    cog = start_cog(port)
    try:
        return f"{cog_predictor(port)}:Runner"
    finally:
        cog.stop()


def ensure_cog() -> None:
    """Install Cog (PyPI ``cog``, whose server is the Rust ``coglet``) once, untimed."""
    if not (COG_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(COG_VENV)], check=True)
    check = subprocess.run([str(COG_VENV / "bin" / "python"), "-c", "import cog, coglet, PIL"],
                           capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(COG_VENV / "bin" / "pip"), "install", "-q", "cog>=0.23,<0.24",
                        "pillow"], check=True)


def start_cog(port: int) -> Server:
    """Replicate's Cog server without Docker, serving the equivalent trivial predictor."""
    if not COG_PEER.exists():
        raise SystemExit(f"{COG_PEER} is missing: the Cog peer needs the shared tools folder")
    work = _cog_work(port)
    env = {**os.environ, "COG_PEER_VENV": str(COG_VENV), "COG_PEER_WORK": str(work),
           "LOG_FORMAT": "console"}
    began = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(COG_PEER), str(port), "text"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    _wait(process, lambda: httpx.get(f"{base}/health-check").json().get("status") == "READY")
    return Server("Cog", process, base, time.monotonic() - began)


def _wait(process: subprocess.Popen[bytes], ready, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise SystemExit(f"a server exited with {process.returncode} before it was ready")
        try:
            if ready():
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.01)
    raise SystemExit("a server did not become ready in time")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, found by their parent ids (a child forked by a thread
    that has exited is no longer listed in any thread's ``children``)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, ()))
    return found


def _cpu(pid: int) -> float:
    try:
        # After the command's closing parenthesis: utime and stime are fields 14 and 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0
