"""The shared store: PostgreSQL, for API replicas and workers on many machines.

The schema and its behaviour are SQLite's (the prediction statements are the same,
from ``sql``); times are ``timestamptz``. Migrations are numbered files applied in
order under an advisory lock, so replicas starting together do not race; ``replicast
db upgrade`` applies them ahead of a deploy. Webhook deliveries are claimed with
``FOR UPDATE SKIP LOCKED``, so dispatchers in several processes share the outbox.
"""

from __future__ import annotations

import asyncio
import logging

from replicast import times
from replicast.errors import ConfigError, StoreError, StoreUnavailable
from replicast.store import migrations
from replicast.store.base import Store
from replicast.store.health import PROBE_SQL, Health
from replicast.store.postgres import counts
from replicast.store.postgres.access import PostgresAccess
from replicast.store.postgres.accounts import PostgresAccounts
from replicast.store.postgres.files import PostgresFiles
from replicast.store.postgres.outbox import PostgresOutbox
from replicast.store.postgres.predictions import PostgresPredictions
from replicast.store.postgres.runs import PostgresRuns
from replicast.store.postgres.sessions import PostgresSessions

log = logging.getLogger("replicast.store.postgres")

_MIGRATION_LOCK = 0x7265706C  # any constant shared by every Replicast process


class PostgresStore(Store):
    """State in a PostgreSQL database, shared by every process that uses the same URL;
    each repository is a module of this folder, all on the same pool."""

    shared = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        try:
            import asyncpg
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigError("REPLICAST_DATABASE_URL is PostgreSQL, which needs the postgres "
                              "extra: pip install 'replicast[postgres]'") from None
        self._asyncpg = asyncpg
        self._db = PostgresAccess(asyncpg)
        self.url = url
        self._pool_size = pool_size
        self._folding: asyncio.Task[None] | None = None
        self.predictions = PostgresPredictions(self._db)
        self.runs = PostgresRuns(self._db)
        self.outbox = PostgresOutbox(self._db)
        self.files = PostgresFiles(self._db)
        self.accounts = PostgresAccounts(self._db)
        self.sessions = PostgresSessions(self._db)

    @property
    def health(self) -> Health:
        """The outage the store is in, if any."""
        return self._db.health

    async def open(self) -> None:
        await self.connect()
        await self._migrate()
        self._folding = asyncio.create_task(counts.fold_forever(self._db), name="fold-counts")

    async def connect(self) -> None:
        """Connect without touching the schema."""
        try:
            # No floor of open connections: asyncpg would reconnect to keep one in the
            # background, logging a traceback a second while PostgreSQL is down. Queries
            # open what they need; idle connections stay open for minutes.
            self._db.pool = await self._asyncpg.create_pool(
                self.url, min_size=0, max_size=self._pool_size, command_timeout=60)
        except self._db.errors as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self._safe_url()}: "
                                   f"{exc}") from exc

    def _safe_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    async def close(self) -> None:
        if self._folding is not None:
            self._folding.cancel()
            await asyncio.gather(self._folding, return_exceptions=True)
            self._folding = None
        if self._db.pool is not None:
            pool, self._db.pool = self._db.pool, None
            try:
                # Waits for connections in use to come back: a query cut off by a
                # shutdown may never bring its own.
                await asyncio.wait_for(pool.close(), 5.0)
            except TimeoutError:
                log.warning("closing PostgreSQL connections took too long; dropping them")
                pool.terminate()

    async def upgrade(self) -> list[str]:
        if self._db.pool is None:
            await self.connect()
        return await self._migrate()

    async def ping(self) -> None:
        await self._db.fetchval("SELECT 1")
        if self._db.health.writes_refused:  # reads work; do writes again?
            await self._db.execute(PROBE_SQL)

    async def _migrate(self) -> list[str]:
        """Apply the migrations this database lacks, in order; their names."""
        try:
            return await self._apply(migrations.load("postgres"))
        except self._db.errors as exc:
            raise self._db.failed(exc) from exc

    async def _apply(self, known: list[migrations.Migration]) -> list[str]:
        applied_now: list[str] = []
        async with self._db.pool.acquire() as c:
            await c.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await c.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
                applied = {r[0] for r in await c.fetch("SELECT version FROM schema_migrations")}
                if applied - {m.version for m in known}:
                    raise StoreError("the database was written by a newer Replicast; "
                                     "upgrade Replicast")
                for migration in known:
                    if migration.version in applied:
                        continue
                    async with c.transaction():
                        await c.execute(migration.sql)
                        await c.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at)"
                            " VALUES ($1, $2, $3)", migration.version, migration.name,
                            times.now())
                    applied_now.append(f"{migration.version:04d}_{migration.name}")
                    log.info("applied migration %04d_%s", migration.version, migration.name)
            finally:
                await c.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        return applied_now
