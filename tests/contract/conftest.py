"""Each seam's contract suite runs against every backend of that seam."""

from __future__ import annotations

import asyncio

import pytest

from replicast.broker import open_broker
from replicast.ratelimit import open_limiter
from replicast.store import open_store
from tests.support import services

STORE_BACKENDS = ["sqlite", "postgres"]
BROKER_BACKENDS = ["memory", "redis"]


@pytest.fixture(scope="session")
def postgres_url():
    """One database for the session's PostgreSQL store tests, dropped at the end."""
    url = asyncio.run(services.create_database())
    yield url
    asyncio.run(services.drop_database(url))


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store_factory(store_url):
    if store_url.startswith("postgresql"):
        # The schema stays from test to test; the rows go.
        probe = open_store(store_url)
        await probe.open()
        await probe.close()
        await services.empty_database(store_url)
    opened = []

    async def make():
        store = open_store(store_url)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(store_factory):
    return await store_factory()


@pytest.fixture(params=BROKER_BACKENDS)
async def broker(request):
    if request.param == "redis":
        await services.empty_redis()
        url = services.redis_url()
    else:
        url = "memory://"
    broker = open_broker(url)
    await broker.open()
    yield broker
    await broker.close()


@pytest.fixture(params=BROKER_BACKENDS)
async def limiter(request):
    """A rate limiter of each kind, picked by a broker URL as the app picks it."""
    if request.param == "redis":
        await services.empty_redis()
        url = services.redis_url()
    else:
        url = "memory://"
    limiter = open_limiter(url)
    await limiter.open()
    yield limiter
    await limiter.close()
