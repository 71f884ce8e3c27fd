"""The ``replicast`` command: ``serve``, ``worker``, ``keys``, ``weights``, ``db``, and
the client side, ``run`` and ``predictions`` (``replicast.client``).

Flags map onto ``Settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from replicast import __version__, times
from replicast.accounts.account import DEFAULT_ACCOUNT
from replicast.accounts.service import Accounts
from replicast.client.display import printable
from replicast.config import Settings, parse_flag
from replicast.errors import ReplicastError
from replicast.predictors.spec import pair_flags
from replicast.store import open_store

_RANDOM_WEIGHTS_HELP = ("build these models at their real size with random weights instead "
                        "of loading their weights: real speed, images of noise "
                        "(REPLICAST_RANDOM_WEIGHTS)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replicast", description="A self-hosted server for Replicate's prediction API."
    )
    parser.add_argument("--version", action="version", version=f"replicast {__version__}")
    parser.add_argument("--data-dir", type=Path, help="state folder (REPLICAST_DATA_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API and a worker")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on (default 8000)")
    serve.add_argument("--public-url", help="base of every URL returned (REPLICAST_PUBLIC_URL)")
    serve.add_argument("--predictor", action="append", default=[], metavar="REF",
                       help="serve a Cog-style predictor, path/to/predict.py:Predictor or a "
                            "folder with a cog.yaml (repeatable; each needs a --model-name)")
    serve.add_argument("--model-name", action="append", default=[], metavar="OWNER/NAME",
                       help="the name the --predictor before it is served as")
    serve.add_argument("--models-file", type=Path,
                       help="TOML file listing predictors to serve (REPLICAST_MODELS_FILE)")
    serve.add_argument("--no-worker", action="store_true",
                       help="serve the API only; `replicast worker` processes run the "
                            "predictions (REPLICAST_WORKER=false)")
    serve.add_argument("--random-weights", metavar="OWNER/NAME[,...]",
                       help=_RANDOM_WEIGHTS_HELP)

    worker = commands.add_parser(
        "worker", help="run predictions beside API processes (PostgreSQL and Redis)")
    worker.add_argument("--models", help="comma-separated models to serve (default: all); "
                        "REPLICAST_WORKER_MODELS")
    worker.add_argument("--device", help="where real models run: cpu, cuda, cuda:N "
                        "(REPLICAST_DEVICE)")
    worker.add_argument("--host", help="interface for health and metrics (default 127.0.0.1)")
    worker.add_argument("--port",
                        help="serve /health/live, /health/ready and /metrics on this port")
    worker.add_argument("--predictor", action="append", default=[], metavar="REF",
                        help="a Cog-style predictor, as for serve")
    worker.add_argument("--model-name", action="append", default=[], metavar="OWNER/NAME")
    worker.add_argument("--models-file", type=Path, help="as for serve")
    worker.add_argument("--random-weights", metavar="OWNER/NAME[,...]",
                        help=_RANDOM_WEIGHTS_HELP)

    db = commands.add_parser("db", help="the database: upgrade")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser("upgrade", help="apply the migrations the database lacks")

    weights = commands.add_parser("weights", help="model weights: list, pull")
    weight_actions = weights.add_subparsers(dest="action", required=True)
    weight_actions.add_parser("list", help="each model, its weights folder, real or stand-in")
    pull = weight_actions.add_parser("pull", help="download a model's weights from the hub")
    pull.add_argument("model", help="for example black-forest-labs/flux-schnell")

    _client_commands(commands)

    keys = commands.add_parser("keys", help="manage API tokens")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token (shown once)")
    create.add_argument("--account", default=DEFAULT_ACCOUNT, help="account username")
    create.add_argument("--label", default="", help="a note to tell keys apart")
    actions.add_parser("list", help="list keys")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def _client_commands(commands: Any) -> None:
    def server_flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--server", metavar="URL",
                            help="the server, its root or <root>/replicate (default: "
                                 "REPLICATE_BASE_URL, else the server running on the data "
                                 "folder)")
        parser.add_argument("--token", help="API token (default: REPLICATE_API_TOKEN)")
        parser.add_argument("--json", action="store_true", help="print the JSON instead")

    run = commands.add_parser(
        "run", help="run a model and save its output",
        description="Create a prediction, show it running, print its text output and save "
                    "its files. Without --server or REPLICATE_BASE_URL, it runs against the "
                    "server running on the local data folder, or else starts Replicast in "
                    "this process there.")
    run.add_argument("model", help="owner/name or owner/name:version")
    run.add_argument("-i", "--input", action="append", default=[], metavar="KEY=VALUE",
                     help="an input (repeatable); typed by the model's schema; KEY=@PATH "
                          "uploads a local file")
    run.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                     help="where output files are saved (default: the current folder)")
    run.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                     help="wait for the prediction to finish (default); --no-wait prints "
                          "its id at once")
    run.add_argument("--timeout", metavar="DURATION",
                     help="cancel the prediction if it has not finished by then, like 90s, "
                          "5m or 1h (the server's Cancel-After)")
    server_flags(run)

    predictions = commands.add_parser("predictions", help="list, get or cancel predictions")
    actions = predictions.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest predictions, as a table")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    server_flags(listing)
    for action, text in (("get", "one prediction"), ("cancel", "cancel a prediction")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("id", help="the prediction's id")
        server_flags(parser)


def _client(args: argparse.Namespace) -> int:
    from replicast.client import predictions
    from replicast.client.run import RunOptions, run

    if args.command == "run":
        return run(RunOptions(
            model=args.model, inputs=tuple(args.input), server=args.server, token=args.token,
            output_dir=args.output_dir, json=args.json, wait=args.wait, timeout=args.timeout,
            data_dir=args.data_dir))
    with predictions.connect(args.server, args.token,
                             data_dir=args.data_dir) as connection:
        if args.action == "list":
            return predictions.list_(connection, limit=args.limit, as_json=args.json)
        if args.action == "get":
            return predictions.get(connection, args.id, as_json=args.json)
        return predictions.cancel(connection, args.id, as_json=args.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``replicast`` command."""
    args = _parser().parse_args(argv)
    if args.command in {"run", "predictions"}:
        try:
            return _client(args)
        except ReplicastError as exc:
            # The message may quote a server's words: nothing in it may drive the terminal.
            print(f"replicast: {printable(str(exc))}", file=sys.stderr)
            return getattr(exc, "exit_code", 1)
        except OSError as exc:  # saving outputs: a folder that is not one, a full disk
            print(f"replicast: {printable(str(exc))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (`| head`): stop without a traceback, now or at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    try:
        predictors = pair_flags(getattr(args, "predictor", []), getattr(args, "model_name", []))
        models = getattr(args, "models", None)
        random = getattr(args, "random_weights", None)
        settings = Settings.from_env(
            data_dir=args.data_dir,
            predictors=predictors or None,
            models_file=getattr(args, "models_file", None),
            host=getattr(args, "host", None),
            port=None if getattr(args, "port", None) is None else
            parse_flag("--port", "port", args.port),
            public_url=(getattr(args, "public_url", None) or "").rstrip("/") or None,
            run_worker=False if getattr(args, "no_worker", False) else
            (True if args.command == "worker" else None),
            worker_models=None if models is None else
            tuple(m.strip() for m in models.split(",") if m.strip()),
            device=getattr(args, "device", None),
            random_weights=None if random is None else
            tuple(m.strip() for m in random.split(",") if m.strip()),
        )
        if args.command == "serve":
            from replicast.server import serve

            return serve(settings)
        if args.command == "worker":
            from replicast.server import serve

            return serve(settings, api=False, http=args.port is not None)
        if args.command == "weights":
            return _weights(settings, args)
        if args.command == "db":
            return asyncio.run(_db(settings))
        return asyncio.run(_keys(settings, args))
    except ReplicastError as exc:
        print(f"replicast: {exc}", file=sys.stderr)
        return 2


async def _db(settings: Settings) -> int:
    store = open_store(settings.store_url)
    applied = await store.upgrade()
    await store.close()
    if applied:
        print("Applied: " + ", ".join(applied))
    else:
        print("The database is up to date.")
    return 0


def _weights(settings: Settings, args: argparse.Namespace) -> int:
    from replicast.models import weights

    if args.action == "pull":
        folder = weights.pull(settings.weights, args.model, token=os.environ.get("HF_TOKEN"))
        print(f"Pulled {args.model} into {folder}.")
        return 0
    width = max(map(len, weights.HUB_REPOSITORIES)) + 2
    print(f"{'MODEL':<{width}}{'SERVED BY':<11}WEIGHTS")
    for model in weights.HUB_REPOSITORIES:
        found = weights.status(settings.weights, model)
        print(f"{model:<{width}}{found.served_by:<11}{found.reason}")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings.store_url)
    await store.open()
    try:
        accounts = Accounts(store.accounts)
        if args.action == "create":
            token, key = await accounts.create_key(args.account, args.label)
            print(f"Created key {key.id} for account {args.account!r}. The token, shown once:")
            print(token)
        elif args.action == "list":
            rows = await store.accounts.list_keys()
            print(f"{'ID':<14}{'ACCOUNT':<20}{'TOKEN':<12}{'CREATED':<22}{'STATE':<10}LABEL")
            now = times.now()
            for key, account in rows:
                state = ("revoked" if key.revoked_at else
                         "expired" if key.expired(now) else "active")
                created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
                print(f"{key.id:<14}{account.username:<20}{key.hint + '…':<12}{created:<22}"
                      f"{state:<10}{key.label}")
        elif not await store.accounts.revoke_key(args.key_id):
            print(f"replicast: no active key with id {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(f"Revoked key {args.key_id}.")
        return 0
    finally:
        await store.close()
