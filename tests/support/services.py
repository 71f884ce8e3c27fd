"""The real PostgreSQL and Redis the tests use, and what to do when they are missing.

Locally a missing service skips the tests that need it; under ``CI=true`` it fails
them, so that a CI run cannot pass without having run them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from replicast import ids

if TYPE_CHECKING:
    from tests.support.redis_server import PrivateRedis

POSTGRES_URL = os.environ.get("REPLICAST_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
_private_redis: PrivateRedis | None = None


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error}); start it (see DEVELOPERS.md)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


async def create_database() -> str:
    """A new, empty database on the test server; its URL."""
    import asyncpg

    name = f"replicast_test_{ids.random_id(10)}"
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return database_url(name)


async def drop_database(url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def empty_database(url: str) -> None:
    """Remove every row, keeping the schema."""
    import asyncpg

    connection = await asyncpg.connect(url, timeout=5)
    try:
        tables = [r[0] for r in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations'")]
        if tables:
            await connection.execute(
                f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


def redis_url() -> str:
    """The Redis the tests use, which they empty: ``REPLICAST_TEST_REDIS_URL``, else a
    redis-server of this test run's own, started on first use and removed at exit."""
    global _private_redis
    given = os.environ.get("REPLICAST_TEST_REDIS_URL")
    if given:
        return given
    if _private_redis is None:
        from tests.support.redis_server import PrivateRedis

        folder = Path(tempfile.mkdtemp(prefix="replicast-redis-"))
        server = PrivateRedis(folder)
        try:
            server.start()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        atexit.register(server.kill)  # runs first: atexit calls in reverse order
        _private_redis = server
    return _private_redis.url


async def empty_redis(url: str | None = None) -> None:
    import redis.asyncio as redis

    url = url or redis_url()
    client = redis.Redis.from_url(url)
    try:
        await client.flushdb()
    except redis.RedisError as exc:
        unavailable(f"Redis at {url}", exc)
    finally:
        await client.aclose()
