"""The local server, for a command run without ``--server``: the one ``replicast serve``
runs on the local data folder (``REPLICAST_DATA_DIR`` and the other ``REPLICAST_*``
settings), found by the record it keeps there, or else, for ``run``, Replicast in
this process.

In this process, the server runs under uvicorn in a thread of its own, on a free
loopback port, and the command talks to it over HTTP like to any other. It holds the
data folder's lock, as ``replicast serve`` does. Its log goes to
``<data dir>/replicast-run.log``.

Either way the command authenticates with a key made for it, from the folder's
database, and revoked when it ends: its token lives only in memory, the database
keeps only its digest, as for every key. The key expires after ``KEY_LIFETIME`` even
if the command is killed before it can revoke it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from replicast.accounts.account import DEFAULT_ACCOUNT
from replicast.accounts.service import Accounts
from replicast.client.connection import ClientError
from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.logs import TextFormatter
from replicast.private import create_file

LOG_NAME = "replicast-run.log"
KEY_LABEL = "replicast run"
KEY_LIFETIME = timedelta(hours=12)
"""Longer than a command should ever take (it needs its key until its prediction ends),
short enough that a key left by a killed command soon stops working."""
START_TIMEOUT = 120.0


@contextlib.contextmanager
def local_server(settings: Settings) -> Iterator[tuple[str, str]]:
    """The server running on the data folder, or else Replicast started in this process;
    its URL and a token for it, until the block ends."""
    from replicast.datadir import exclusive, secure
    from replicast.server import check
    from replicast.store import open_store

    found = running_server(settings)
    if found is not None:
        with command_key(settings) as token:
            yield found, token
        return
    check(settings)
    with contextlib.ExitStack() as stack:
        if not open_store(settings.store_url).shared:
            try:
                stack.enter_context(exclusive(settings.data_dir))
            except ConfigError:
                # A server without a record: one that started before servers kept one.
                raise ClientError(
                    f"A Replicast server is already using {settings.data_dir}: run against "
                    "it with --server URL (or REPLICATE_BASE_URL)") from None
        secure(settings.data_dir)
        stack.enter_context(_logging_to(settings.data_dir / LOG_NAME))
        # Entered before the server starts, so the key is revoked after it stopped.
        token = stack.enter_context(command_key(settings))
        listener = socket.socket()
        stack.callback(listener.close)
        listener.bind(("127.0.0.1", 0))
        port: int = listener.getsockname()[1]
        settings = dataclasses.replace(settings, host="127.0.0.1", port=port, public_url=None,
                                       tls_certfile=None, tls_keyfile=None)
        server, thread = _start(settings, listener)
        stack.callback(_stop, server, thread, settings.shutdown_grace + 10)
        yield f"http://127.0.0.1:{port}", token


def running_server(settings: Settings) -> str | None:
    """The URL of the ``replicast serve`` running on the data folder, if one is."""
    from replicast.datadir import recorded_server

    return recorded_server(settings.data_dir)


@contextlib.contextmanager
def command_key(settings: Settings) -> Iterator[str]:
    """A token for this command: ``REPLICAST_API_TOKEN`` if set, else a key made now
    and revoked when the block ends."""
    if settings.api_token is not None:
        yield settings.api_token
        return
    token, key_id = asyncio.run(_run_key(settings))
    try:
        yield token
    finally:
        asyncio.run(_revoke(settings, key_id))


def _start(settings: Settings, listener: socket.socket) -> tuple[Any, threading.Thread]:
    import uvicorn

    from replicast.app import create_app
    from replicast.server import edge_protocol, uvicorn_server

    app = create_app(settings, announce=lambda text: print(text, file=sys.stderr))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            log_config=None, proxy_headers=False, http=edge_protocol(settings),
                            timeout_graceful_shutdown=int(settings.shutdown_grace) + 5)

    server = uvicorn_server(app, config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name="replicast-server", daemon=True)
    thread.start()
    give_up = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > give_up:
            server.should_exit = True
            raise ClientError("Replicast could not start in this process; its log says why: "
                              f"{settings.data_dir / LOG_NAME}")
        time.sleep(0.02)
    return server, thread


def _stop(server: Any, thread: threading.Thread, timeout: float) -> None:
    server.should_exit = True
    thread.join(timeout)


async def _run_key(settings: Settings) -> tuple[str, str]:
    """A key for this run: its token (kept nowhere but here) and its id."""
    from replicast.store import open_store

    store = open_store(settings.store_url)
    await store.open()
    try:
        accounts = Accounts(store.accounts)
        if not await store.accounts.list_keys():
            # The server's first start would make and show a token: keep that promise.
            first = await accounts.first_start_token()
            print("Created an API token for the account 'replicast' (shown only this once):"
                  f"\n\n    export REPLICATE_API_TOKEN={first}\n", file=sys.stderr)
        token, key = await accounts.create_key(DEFAULT_ACCOUNT, KEY_LABEL,
                                               lifetime=KEY_LIFETIME)
        return token, key.id
    finally:
        await store.close()


async def _revoke(settings: Settings, key_id: str) -> None:
    from replicast.store import open_store

    store = open_store(settings.store_url)
    await store.open()
    try:
        await store.accounts.revoke_key(key_id)
    finally:
        await store.close()


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send the server's log to a file while it runs, not into the command's output."""
    create_file(path)  # 0600: it may hold inputs and errors
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        handler.close()
