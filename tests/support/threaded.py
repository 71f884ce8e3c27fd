"""The app served by ``uvicorn_server`` on a thread of the test's own process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from replicast.server import uvicorn_server


@contextlib.contextmanager
def threaded_server(app: Any, before_start: Any = None, **options: Any) -> Iterator[Any]:
    """A started server for ``app`` on a free loopback port (its ``port`` attribute), stopped
    afterwards; ``options`` go to ``uvicorn.Config`` (``freeze`` to ``uvicorn_server``).
    ``before_start`` runs just before the thread starts, inside the server's stop."""
    freeze = options.pop("freeze", False)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical",
                            **options)
    server = uvicorn_server(app, config, freeze=freeze)
    server.port = listener.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    try:
        if before_start is not None:
            before_start()
        thread.start()
        give_up = time.monotonic() + 30
        while not server.started and time.monotonic() < give_up and thread.is_alive():
            time.sleep(0.02)
        assert server.started
        yield server
    finally:
        server.should_exit = True
        if thread.is_alive():
            thread.join(30)
        listener.close()
