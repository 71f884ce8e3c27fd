"""A real ``replicast serve`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

TOKEN = "r8_TestTokenForReplicastEndToEndTests0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """Starts, stops and kills one server; its output goes to ``data_dir/server.log``."""

    def __init__(self, data_dir: Path, *, token: str | None = TOKEN,
                 env: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None,
                 port: int | None = None, args: list[str] | None = None,
                 command: str = "serve", log_name: str = "server.log",
                 umask: int = -1) -> None:
        self.data_dir = data_dir
        self.args = args or []
        self.command = command
        self.token = token
        self.extra_env = env or {}
        self.tls = tls
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / log_name
        self.umask = umask
        """The server's umask; -1 leaves this process's."""
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {**os.environ, "REPLICAST_DATA_DIR": str(self.data_dir),
               "REPLICAST_LOG_LEVEL": "info", **self.extra_env}
        env.pop("REPLICAST_API_TOKEN", None)
        if self.token:
            env["REPLICAST_API_TOKEN"] = self.token
        if self.tls:
            env["REPLICAST_TLS_CERTFILE"], env["REPLICAST_TLS_KEYFILE"] = map(str, self.tls)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "replicast", self.command, "--port", str(self.port),
             *self.args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, umask=self.umask,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                output = self.output
                self._close_log()
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{output}")
            try:
                response = httpx.get(f"{self.base_url}/health/live", verify=False, timeout=1)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become ready in {timeout} s:\n{self.output}")

    @property
    def output(self) -> str:
        if self._log:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; the exit status."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: no chance to clean up."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, which: signal.Signals, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(which)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def client(self) -> httpx.Client:
        """A plain HTTP client with the server's token."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, verify=False, timeout=70)
