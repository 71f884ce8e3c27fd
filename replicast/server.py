"""Running a Replicast process: the API (with or without a worker) or a worker alone.

Both run under uvicorn, which handles signals: SIGTERM or Ctrl-C stops taking
requests, gives running predictions ``REPLICAST_SHUTDOWN_GRACE`` seconds, and puts
back the rest. A worker serves only health and metrics over HTTP, on ``--port``;
without one it serves nothing and is watched through its heartbeat in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from pathlib import Path
from typing import Any

from replicast import logs
from replicast.config import Settings
from replicast.datadir import forget_server, record_server
from replicast.errors import ConfigError


def check(settings: Settings) -> None:
    """Refuse at once what cannot work, so that a mistake is one line, not a traceback."""
    from replicast.broker import open_broker
    from replicast.models.registry import builtin_models
    from replicast.predictors.serving import check_names
    from replicast.store import open_store

    open_store(settings.store_url)
    open_broker(settings.broker_url)
    check_names(settings.all_predictors(), {m.full_name for m in builtin_models(settings)})


def serve(settings: Settings, *, api: bool = True, http: bool = True) -> int:
    """Run the API (and the worker, unless ``settings.run_worker`` is off) until stopped;
    with ``api`` off, run a worker alone (``replicast worker``), over HTTP for health
    and metrics only if ``http``."""
    from replicast.app import create_app
    from replicast.datadir import exclusive
    from replicast.store import open_store

    check(settings)
    shared = open_store(settings.store_url).shared
    if not api and not (shared and settings.broker_url.startswith(("redis", "unix"))):
        raise ConfigError("replicast worker works beside API processes, through a shared "
                          "database and broker: set REPLICAST_DATABASE_URL=postgresql://... "
                          "and REPLICAST_BROKER_URL=redis://...")
    logs.configure(settings.log_level, settings.log_format,
                   **({} if api else {"role": "worker"}))
    app = create_app(settings, announce=lambda text: print(text, flush=True), api=api)
    # Two servers on one SQLite database would run each prediction twice; a shared
    # store is made for many processes.
    guard = contextlib.nullcontext() if shared else exclusive(settings.data_dir)
    with guard:
        if api or http:
            return _run_http(app, settings)
        return asyncio.run(_run_headless(app))


def _run_http(app: Any, settings: Settings) -> int:
    import uvicorn

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        access_log=settings.access_log, loop="auto", http=edge_protocol(settings),
        lifespan="on",
        ssl_certfile=settings.tls_certfile, ssl_keyfile=settings.tls_keyfile,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        # Behind a proxy, REPLICAST_PUBLIC_URL says where the server is reached, and only
        # the proxies named in REPLICAST_TRUSTED_PROXIES are believed about who the client
        # is (its address counts its failed authentications) and which scheme it used.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies), log_config=None,
    )

    server = uvicorn_server(app, config, record_in=settings.data_dir, freeze=True)
    try:
        server.run()
    finally:
        forget_server(settings.data_dir)
    return 0 if server.started else 1


def edge_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, held to the request and connection limits of ``settings``
    (see replicast/edge): give it to every uvicorn that serves the app."""
    from replicast.edge import EdgeLimits, protocol_class

    return protocol_class(EdgeLimits.of(settings))


def uvicorn_server(app: Any, config: Any, *, record_in: Path | None = None,
                   freeze: bool = False) -> Any:
    """A uvicorn server for the API ``app`` that ends its event streams when it shuts
    down: they never end by themselves, so shutting down would wait for them. With
    ``record_in``, it records in that data folder where it listens while it does; with
    ``freeze``, the process is the server's own (``freeze_start_up`` once started)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if freeze and self.started:
                freeze_start_up()
            if record_in is not None and self.started:
                record_server(record_in, _local_url(self.servers, is_tls=config.is_ssl))

        async def shutdown(self, sockets: Any = None) -> None:
            if record_in is not None:
                forget_server(record_in)
            state = getattr(app.state, "replicast", None)
            if state is not None:
                state.end_streams()
            await super().shutdown(sockets)

    return Server(config)


def _local_url(servers: list[asyncio.Server], *, is_tls: bool) -> str:
    """A URL this machine reaches the first listening socket at."""
    host, port = servers[0].sockets[0].getsockname()[:2]
    family = servers[0].sockets[0].family
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{'https' if is_tls else 'http'}://{host}:{port}"


async def _run_headless(app: Any) -> int:
    """Run the app's services without HTTP until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for which in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(which, stop.set)
    async with app.router.lifespan_context(app):
        freeze_start_up()
        await stop.wait()
    return 0


def freeze_start_up() -> None:
    """Keep what start-up made (modules, the app, its services), which lives as long as
    the process, out of the collector's full passes: each would otherwise walk it all
    again, holding the event loop ~50 ms. Start-up's garbage is collected first, or
    frozen it would never be."""
    gc.collect()
    gc.freeze()
