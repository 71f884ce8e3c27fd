"""``create_app(settings)``: the ASGI app, its services opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicast import datadir
from replicast import sessions as web_sessions
from replicast.accounts.service import Accounts
from replicast.api import routes as api_routes
from replicast.auth_failures import FailureLimit
from replicast.broker import open_broker
from replicast.config import Settings
from replicast.errors import ConfigError, ReplicastError, StorageUnavailable
from replicast.files import signing as files_signing
from replicast.files.blobs import Blobs, BlobStore
from replicast.files.bucket_blobs import BucketBlobs
from replicast.files.service import FilesService
from replicast.files.signing import DownloadSigner
from replicast.gateway import hooks as gateway_hooks
from replicast.gateway.gateway import Gateway
from replicast.gateway.hooks import HookSigner
from replicast.http.problems import EXCEPTION_HANDLERS, UnexpectedErrors
from replicast.http.ratelimits import CREATES, REQUESTS, RateLimits
from replicast.input_fetch import InputFetcher
from replicast.input_files import FileLimits
from replicast.metrics import Metrics
from replicast.models.registry import Registry, builtin_models
from replicast.net import guarded_client
from replicast.outputs import signing
from replicast.outputs.base import OutputStore
from replicast.outputs.bucket import BucketOutputs
from replicast.outputs.local import LocalOutputs
from replicast.outputs.signing import OutputLinks
from replicast.predictions.deadlines import Deadlines
from replicast.predictions.input_limits import InputLimits
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.retention import Retention
from replicast.predictions.service import PredictionService
from replicast.predictions.withdrawals import Withdrawals
from replicast.predictors.serving import predictor_models
from replicast.ratelimit import Limiter, Rate, open_limiter
from replicast.state import AppState
from replicast.storage import bucket as storage_bucket
from replicast.storage import location as storage_location
from replicast.store import open_store
from replicast.web import routes as web_routes
from replicast.webhooks.dispatcher import Dispatcher
from replicast.webhooks.emitter import WebhookEmitter
from replicast.worker.worker import Worker

log = logging.getLogger("replicast")


def create_app(settings: Settings, *, registry: Registry | None = None,
               announce: Callable[[str], None] = print, api: bool = True) -> Starlette:
    """The Replicast app. ``announce`` shows the one-time token to whoever started it.

    With ``api`` false (``replicast worker``) it serves only health and metrics, and
    runs the worker (``settings.run_worker``) behind them.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app.state.replicast = await _start(settings, registry, announce, stack, api=api)
            yield

    table = routes() if api else api_routes.operator_routes()
    middleware = [Middleware(StartupErrors), Middleware(UnexpectedErrors)]
    if api:
        middleware.append(Middleware(RateLimits))
    app = Starlette(routes=table, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS,
                    lifespan=lifespan)
    # An API answers the path it was asked, not a redirect to a neighbour.
    app.router.redirect_slashes = False
    return app


def routes() -> list[BaseRoute]:
    """Every route of a server with the API: the API's, and the pages beside them (none
    under the API's prefixes)."""
    return [*api_routes.routes(), *web_routes.routes()]


class StartupErrors:
    """Says in one line why the app could not start when it is one of Replicast's own
    errors (a full disk, a database that does not answer), where Starlette would send
    the server a traceback to log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)  # sent below, once the error is known
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except ReplicastError as exc:
            if not held:
                raise
            await send({"type": "lifespan.startup.failed",
                        "message": f"Replicast cannot start: {exc}"})
        except BaseException:
            for message in held:
                await send(message)
            raise


async def _start(settings: Settings, registry: Registry | None,
                 announce: Callable[[str], None], stack: contextlib.AsyncExitStack,
                 *, api: bool) -> AppState:
    """Open and start everything; ``stack`` closes it all again, in reverse order."""
    datadir.secure(settings.data_dir)
    store = open_store(settings.store_url)
    await store.open()
    stack.push_async_callback(store.close)
    broker = open_broker(settings.broker_url)
    await broker.open()
    stack.push_async_callback(broker.close)
    fetcher = InputFetcher(max_bytes=settings.max_input_file_bytes,
                           timeout=settings.input_fetch_timeout,
                           min_rate=settings.download_min_rate,
                           allow_private=settings.allow_private_urls)
    stack.push_async_callback(fetcher.close)
    client = guarded_client(allow_private=settings.allow_private_urls,
                            timeout=settings.webhook_timeout, follow_redirects=False)
    stack.push_async_callback(client.aclose)

    metrics = Metrics()
    outputs, blobs = await _file_stores(settings, stack)
    presigned = outputs if isinstance(outputs, BucketOutputs) \
        and settings.storage_presigned_urls else None
    links = OutputLinks(await store.sessions.server_key(signing.SECRET_NAME),
                        ttl=settings.output_url_ttl,
                        presigner=presigned.presigned if presigned else None,
                        presigned_origin=presigned.origin if presigned else None)
    dispatcher = Dispatcher(store.outbox, client, timeout=settings.webhook_timeout,
                            backoff=settings.webhook_backoff, shared=store.shared,
                            on_attempt=metrics.webhook_attempted)
    emitter = WebhookEmitter(store.outbox, on_created=dispatcher.wake, links=links,
                             retry_window=timedelta(seconds=settings.webhook_retry_window))
    stack.push_async_callback(emitter.close)
    if registry is None:
        predictors = await predictor_models(
            settings.all_predictors(), setup_timeout=settings.setup_timeout,
            run_predictions=settings.run_worker, stack=stack,
            health_interval=settings.predictor_healthcheck_interval,
            health_timeout=settings.predictor_healthcheck_timeout)
        gateway = None
        if settings.routes:
            hooks = HookSigner(await store.sessions.server_key(gateway_hooks.SECRET_NAME),
                               public_url=settings.public_url)
            gateway = Gateway(settings.routes, allow_private=settings.allow_private_urls,
                              min_rate=settings.download_min_rate, hooks=hooks)
            stack.push_async_callback(gateway.close)
        registry = Registry([*builtin_models(settings), *predictors], resolver=gateway)
    models = registry
    files = FilesService(
        store.files, blobs,
        DownloadSigner(await store.sessions.server_key(files_signing.SECRET_NAME)),
        max_bytes=settings.max_file_bytes, retention=settings.file_retention,
        account_bytes=settings.max_account_file_bytes)
    listeners: list[LifecycleListener] = [emitter, metrics]
    if models.resolver is not None:
        withdrawals = Withdrawals(models)
        listeners.append(withdrawals)
        stack.push_async_callback(withdrawals.settle, 5.0)
    lifecycle = Lifecycle(store.predictions, broker, listeners=listeners)
    deadlines = Deadlines(store.runs, lifecycle, sweep=store.shared)
    accounts = Accounts(store.accounts)
    sessions = None
    if api:
        await _bootstrap_tokens(settings, accounts, announce)
        sessions = web_sessions.Sessions(
            await store.sessions.server_key(web_sessions.SECRET_NAME), store.sessions)

    dispatcher.start()
    stack.push_async_callback(dispatcher.stop)
    await deadlines.start()
    stack.push_async_callback(deadlines.stop)
    retention = Retention(store.predictions, outputs, broker, retention=settings.retention,
                          interval=_sweep_interval(settings.retention, settings.file_retention),
                          also=files.remove_expired)
    retention.start()
    stack.push_async_callback(retention.stop)
    if api:
        watcher = asyncio.create_task(accounts.watch(), name="revocations")
        stack.push_async_callback(_cancel, watcher)
    limiter, rates, failures = await _rate_limits(settings, stack) if api else (None, {}, None)
    worker = None
    if settings.run_worker:
        worker = Worker(settings, models, store, broker, lifecycle, outputs, fetcher,
                        files=files)
        await worker.start()
        stack.push_async_callback(worker.stop, settings.shutdown_grace)
    log.info("Replicast is serving %d models from %s", len(models), settings.data_dir)
    for route in settings.routes:
        log.info("routing %s to %s", ", ".join(route.patterns), route.base_url)
    return AppState(
        settings=settings, store=store, registry=models,
        predictions=PredictionService(store.predictions, broker, lifecycle, deadlines,
                                      max_unfinished=settings.max_unfinished_predictions,
                                      files=files,
                                      max_file_bytes=settings.max_input_file_bytes,
                                      file_limits=FileLimits(settings.max_input_files,
                                                             settings.max_input_total_bytes),
                                      input_limits=InputLimits(
                                          settings.max_input_bytes,
                                          settings.max_input_string_bytes),
                                      page_bytes=settings.max_page_bytes,
                                      run_slots=models.run_slots),
        limiter=limiter, rates=rates, auth_failures=failures,
        accounts=accounts, outputs=outputs, links=links, broker=broker, metrics=metrics,
        files=files, worker=worker, sessions=sessions,
        hooks=models.resolver.hooks if isinstance(models.resolver, Gateway) else None,
    )


async def _file_stores(settings: Settings, stack: contextlib.AsyncExitStack
                       ) -> tuple[OutputStore, BlobStore]:
    """Where output files and uploads are kept: the data folder, or the bucket of
    REPLICAST_STORAGE_URL (reached once here, so a wrong bucket or credentials stop the
    start with a message rather than fail the first prediction)."""
    if not settings.storage_url:
        return LocalOutputs(settings.outputs_dir), Blobs(settings.files_dir)
    try:
        bucket = await storage_bucket.connect(storage_location.parse(settings.storage_url))
    except StorageUnavailable as exc:
        raise ConfigError(f"REPLICAST_STORAGE_URL={settings.storage_url}: {exc}") from None
    if settings.storage_presigned_urls:
        refresher = asyncio.create_task(storage_bucket.refresh_credentials_forever(bucket),
                                        name="storage-credentials")
        stack.push_async_callback(_cancel, refresher)
    return BucketOutputs(bucket), BucketBlobs(bucket)


async def _rate_limits(settings: Settings, stack: contextlib.AsyncExitStack
                       ) -> tuple[Limiter | None, dict[str, Rate], FailureLimit | None]:
    """Each token bucket's rate, the limit on failed authentications, and where buckets
    are kept: in Redis when processes share the broker's, so that they share the limits
    too, else here."""
    limits = {CREATES: settings.rate_limit_creates, REQUESTS: settings.rate_limit_requests}
    rates = {bucket: rate for bucket, per_minute in limits.items()
             if (rate := Rate.of(per_minute, settings.rate_limit_burst_seconds)) is not None}
    # A whole minute's failures at once: the limit is on guessing, not on a rate.
    failure_rate = Rate.of(settings.rate_limit_auth_failures, 60.0)
    if not rates and failure_rate is None:
        return None, {}, None
    limiter = open_limiter(settings.broker_url)
    await limiter.open()
    stack.push_async_callback(limiter.close)
    failures = FailureLimit(limiter, failure_rate) if failure_rate is not None else None
    return (limiter if rates else None), rates, failures


def _sweep_interval(*retentions: float) -> float:
    """About a tenth of the shortest retention in force, from a second to a minute."""
    kept = [r for r in retentions if r > 0]
    return min(60.0, max(1.0, min(kept) / 10)) if kept else 60.0


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _bootstrap_tokens(settings: Settings, accounts: Accounts,
                            announce: Callable[[str], None]) -> None:
    if settings.api_token:
        await accounts.ensure_token(settings.api_token)
        return
    token = await accounts.first_start_token()
    if token is not None:
        announce(
            "Created an API token for the account 'replicast' (shown only this once):\n\n"
            f"    export REPLICATE_API_TOKEN={token}\n\n"
            "Manage tokens with `replicast keys create|list|revoke`."
        )
    else:  # the first start's token is not shown again: say how to make one
        log.info("API tokens are shown only when made; `replicast keys create` makes another")
