"""How the PostgreSQL store's repositories reach the database: a pool, and queries whose
failures become the store's errors (``DiskFull``, ``StoreUnavailable`` or
``StoreError``), of which ``health`` learns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from replicast.errors import DiskFull, StoreError, StoreUnavailable
from replicast.store.health import Health


class PostgresAccess:
    """Queries on ``pool`` (set once connected); what PostgreSQL raises (``errors``)
    becomes a ``StoreError``: ``StoreUnavailable`` for ``unavailable`` (it cannot be
    reached or used now), ``DiskFull`` for ``full``."""

    def __init__(self, asyncpg: Any) -> None:
        # What a query may raise when PostgreSQL refuses it or is not there; of those,
        # what says it cannot be used now (gone, restarting, failed over, overloaded),
        # and what says its disk is full.
        self.errors: tuple[type[BaseException], ...] = (
            asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
        self.unavailable: tuple[type[BaseException], ...] = (
            asyncpg.InterfaceError, OSError, TimeoutError, asyncpg.PostgresConnectionError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.InsufficientResourcesError,
            asyncpg.exceptions.ReadOnlySQLTransactionError)
        self.full: tuple[type[BaseException], ...] = (asyncpg.exceptions.DiskFullError,)
        self.health = Health()
        self.pool: Any = None

    def failed(self, exc: BaseException) -> StoreError:
        """The store's error for what PostgreSQL raised; an outage is told to ``health``."""
        error: StoreUnavailable
        if isinstance(exc, self.full):
            error = DiskFull(f"PostgreSQL's disk is full: {exc}")
        elif isinstance(exc, self.unavailable):
            error = StoreUnavailable(f"PostgreSQL cannot be used now: "
                                     f"{exc or type(exc).__name__}")
        else:
            return StoreError(f"PostgreSQL refused a query: {exc}")
        self.health.failed(error)
        return error

    @contextlib.asynccontextmanager
    async def transaction(self, *, wrote: bool = True) -> AsyncIterator[Any]:
        """A connection in a transaction; PostgreSQL's failures become ``StoreError``.
        With ``wrote`` false its success is not taken as a sign that writes work again
        (the caller says so if it wrote anything)."""
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                yield connection
        except self.errors as exc:
            raise self.failed(exc) from exc
        self.health.succeeded(wrote=wrote)

    async def fetchval(self, query: str, *args: Any) -> Any:
        try:
            value = await self.pool.fetchval(query, *args)
        except self.errors as exc:
            raise self.failed(exc) from exc
        self.health.succeeded(wrote=False)
        return value

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            rows = list(await self.pool.fetch(query, *args))
        except self.errors as exc:
            raise self.failed(exc) from exc
        self.health.succeeded(wrote=False)
        return rows

    async def fetchrow(self, query: str, *args: Any) -> Any:
        try:
            row = await self.pool.fetchrow(query, *args)
        except self.errors as exc:
            raise self.failed(exc) from exc
        self.health.succeeded(wrote=False)
        return row

    async def execute(self, query: str, *args: Any) -> str:
        try:
            status = str(await self.pool.execute(query, *args))
        except self.errors as exc:
            raise self.failed(exc) from exc
        self.health.succeeded(wrote=True)
        return status


def row_count(status: str) -> int:
    """The rows a command changed, from its status (``UPDATE 3``)."""
    return int(status.rsplit(" ", 1)[-1])
