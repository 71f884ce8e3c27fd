"""A loopback web host for LoRA files, and a fake Hugging Face hub beside them.

``files`` maps paths to bytes (``/loras/a.safetensors``); ``repos`` maps hub
repositories (``owner/repo``) to their files. The hub answers ``/api/models/<repo>``
with its file list and ``/<repo>/resolve/<revision>/<file>`` with a redirect to the
bytes, as the real hub redirects to its CDN. Every request is counted by path, with the
Authorization header it carried; ``hang`` paths never answer (until ``close``).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class LoraHost:
    """Serves LoRA files and a fake hub on 127.0.0.1 until ``close``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.repos: dict[str, dict[str, bytes]] = {}
        self.gated: dict[str, str] = {}
        """Repositories that need a token: repo to the token that opens it."""
        self.hang: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.authorizations: list[tuple[str, str | None]] = []
        self._closing = threading.Event()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                host.requests[path] += 1
                host.authorizations.append((path, self.headers.get("Authorization")))
                if path in host.hang:
                    host._closing.wait()
                    return
                self._answer(path)

            def _answer(self, path: str) -> None:
                if path in host.files:
                    return self._send(200, host.files[path], "application/octet-stream")
                parts = path.strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) >= 4:
                    repo = "/".join(parts[2:4])
                    if not self._allowed(repo):
                        return self._send(401, b'{"error":"gated"}', "application/json")
                    if repo not in host.repos:
                        return self._send(404, b'{"error":"not found"}', "application/json")
                    siblings = [{"rfilename": name} for name in
                                [".gitattributes", "README.md", *host.repos[repo]]]
                    body = json.dumps({"id": repo, "sha": "0" * 40, "siblings": siblings})
                    return self._send(200, body.encode(), "application/json")
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, name = "/".join(parts[:2]), "/".join(parts[4:])
                    if not self._allowed(repo):
                        return self._send(401, b"gated", "text/plain")
                    if name not in host.repos.get(repo, {}):
                        return self._send(404, b"not found", "text/plain")
                    cdn = f"/cdn/{repo}/{name}"
                    host.files[cdn] = host.repos[repo][name]
                    self.send_response(302)
                    self.send_header("Location", cdn)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._send(404, b"not found", "text/plain")

            def _allowed(self, repo: str) -> bool:
                token = host.gated.get(repo)
                return token is None or self.headers.get("Authorization") == f"Bearer {token}"

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> LoraHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
