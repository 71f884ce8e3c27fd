"""What the parts of the PostgreSQL store share: a pool, and queries whose failures
become ``StoreError``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from replicast.errors import StoreError


class PostgresCalls:
    """Queries on ``_pool``; what PostgreSQL raises (``_errors``) becomes ``StoreError``."""

    _pool: Any
    _errors: tuple[type[BaseException], ...]

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A connection in a transaction; PostgreSQL's failures become ``StoreError``."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield connection
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetchval(self, query: str, *args: Any) -> Any:
        try:
            return await self._pool.fetchval(query, *args)
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            return list(await self._pool.fetch(query, *args))
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        try:
            return await self._pool.fetchrow(query, *args)
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

    async def _execute(self, query: str, *args: Any) -> str:
        try:
            return str(await self._pool.execute(query, *args))
        except self._errors as exc:
            raise StoreError(f"PostgreSQL refused a query: {exc}") from exc

