"""What the parts of the PostgreSQL store share: a pool, and queries whose failures
become the store's errors (``DiskFull``, ``StoreUnavailable`` or ``StoreError``), of
which ``health`` learns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from replicast.errors import DiskFull, StoreError, StoreUnavailable
from replicast.store.health import Health


class PostgresCalls:
    """Queries on ``_pool``; what PostgreSQL raises (``_errors``) becomes a ``StoreError``:
    ``StoreUnavailable`` for ``_unavailable`` (it cannot be reached or used now),
    ``DiskFull`` for ``_full``."""

    _pool: Any
    _errors: tuple[type[BaseException], ...]
    _unavailable: tuple[type[BaseException], ...]
    _full: tuple[type[BaseException], ...]
    health: Health

    def _failed(self, exc: BaseException) -> StoreError:
        error: StoreUnavailable
        if isinstance(exc, self._full):
            error = DiskFull(f"PostgreSQL's disk is full: {exc}")
        elif isinstance(exc, self._unavailable):
            error = StoreUnavailable(f"PostgreSQL cannot be used now: "
                                     f"{exc or type(exc).__name__}")
        else:
            return StoreError(f"PostgreSQL refused a query: {exc}")
        self.health.failed(error)
        return error

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A connection in a transaction; PostgreSQL's failures become ``StoreError``."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield connection
        except self._errors as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=True)

    async def _fetchval(self, query: str, *args: Any) -> Any:
        try:
            value = await self._pool.fetchval(query, *args)
        except self._errors as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=False)
        return value

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            rows = list(await self._pool.fetch(query, *args))
        except self._errors as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=False)
        return rows

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        try:
            row = await self._pool.fetchrow(query, *args)
        except self._errors as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=False)
        return row

    async def _execute(self, query: str, *args: Any) -> str:
        try:
            status = str(await self._pool.execute(query, *args))
        except self._errors as exc:
            raise self._failed(exc) from exc
        self.health.succeeded(wrote=True)
        return status
