"""The ``replicast`` command: ``serve`` and ``keys``. Flags map onto ``Settings``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from replicast import __version__
from replicast.accounts import DEFAULT_ACCOUNT, Accounts
from replicast.config import Settings
from replicast.errors import ReplicastError
from replicast.predictors.spec import pair_flags
from replicast.store.base import open_store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replicast", description="A self-hosted server for Replicate's prediction API."
    )
    parser.add_argument("--version", action="version", version=f"replicast {__version__}")
    parser.add_argument("--data-dir", type=Path, help="state folder (REPLICAST_DATA_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API and a worker")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--public-url", help="base of every URL returned (REPLICAST_PUBLIC_URL)")
    serve.add_argument("--predictor", action="append", default=[], metavar="REF",
                       help="serve a Cog-style predictor, path/to/predict.py:Predictor or a "
                            "folder with a cog.yaml (repeatable; each needs a --model-name)")
    serve.add_argument("--model-name", action="append", default=[], metavar="OWNER/NAME",
                       help="the name the --predictor before it is served as")
    serve.add_argument("--models-file", type=Path,
                       help="TOML file listing predictors to serve (REPLICAST_MODELS_FILE)")

    weights = commands.add_parser("weights", help="model weights: list, pull")
    weight_actions = weights.add_subparsers(dest="action", required=True)
    weight_actions.add_parser("list", help="each model, its weights folder, real or stand-in")
    pull = weight_actions.add_parser("pull", help="download a model's weights from the hub")
    pull.add_argument("model", help="for example black-forest-labs/flux-schnell")

    keys = commands.add_parser("keys", help="manage API tokens")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token (shown once)")
    create.add_argument("--account", default=DEFAULT_ACCOUNT, help="account username")
    create.add_argument("--label", default="", help="a note to tell keys apart")
    actions.add_parser("list", help="list keys")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``replicast`` command."""
    args = _parser().parse_args(argv)
    try:
        predictors = pair_flags(getattr(args, "predictor", []), getattr(args, "model_name", []))
        settings = Settings.from_env(
            data_dir=args.data_dir,
            predictors=predictors or None,
            models_file=getattr(args, "models_file", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            public_url=(getattr(args, "public_url", None) or "").rstrip("/") or None,
        )
        if args.command == "serve":
            return serve(settings)
        if args.command == "weights":
            return _weights(settings, args)
        return asyncio.run(_keys(settings, args))
    except ReplicastError as exc:
        print(f"replicast: {exc}", file=sys.stderr)
        return 2


def serve(settings: Settings) -> int:
    """Run the server until interrupted."""
    import uvicorn

    from replicast.app import create_app
    from replicast.broker.base import open_broker
    from replicast.datadir import exclusive

    # Check what can be checked before the server starts, so a mistake is one line.
    open_store(settings.store_url)
    open_broker(settings.broker_url)
    from replicast.models.registry import builtin_models
    from replicast.predictors.models import check_names

    check_names(settings.all_predictors(), {m.full_name for m in builtin_models(settings)})
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, announce=lambda text: print(text, flush=True))
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        access_log=settings.access_log, loop="auto", http="auto", lifespan="on",
        ssl_certfile=settings.tls_certfile, ssl_keyfile=settings.tls_keyfile,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        # Behind a proxy, REPLICAST_PUBLIC_URL says where the server is reached.
        proxy_headers=False,
    )
    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # Event streams never end by themselves: end them, or shutting down waits.
            state = getattr(app.state, "replicast", None)
            if state is not None:
                state.end_streams()
            await super().shutdown(sockets)

    server = Server(config)
    with exclusive(settings.data_dir):
        server.run()
    return 0 if server.started else 1


def _weights(settings: Settings, args: argparse.Namespace) -> int:
    from replicast.models import weights

    if args.action == "pull":
        folder = weights.pull(settings.weights, args.model, token=os.environ.get("HF_TOKEN"))
        print(f"Pulled {args.model} into {folder}.")
        return 0
    print(f"{'MODEL':<36}{'SERVED BY':<11}WEIGHTS")
    for model in weights.HUB_REPOSITORIES:
        found = weights.status(settings.weights, model)
        print(f"{model:<36}{found.served_by:<11}{found.reason}")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings.store_url)
    await store.open()
    try:
        accounts = Accounts(store)
        if args.action == "create":
            token, key = await accounts.create_key(args.account, args.label)
            print(f"Created key {key.id} for account {args.account!r}. The token, shown once:")
            print(token)
        elif args.action == "list":
            rows = await store.list_keys()
            print(f"{'ID':<14}{'ACCOUNT':<20}{'TOKEN':<12}{'CREATED':<22}{'STATE':<10}LABEL")
            for key, account in rows:
                state = "revoked" if key.revoked_at else "active"
                created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
                print(f"{key.id:<14}{account.username:<20}{key.hint + '…':<12}{created:<22}"
                      f"{state:<10}{key.label}")
        elif not await store.revoke_key(args.key_id):
            print(f"replicast: no active key with id {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(f"Revoked key {args.key_id}.")
        return 0
    finally:
        await store.close()
