"""Each seam's contract suite runs against every backend of that seam."""

from __future__ import annotations

import pytest

from replicast.broker.base import open_broker
from replicast.store.base import open_store

STORE_BACKENDS = ["sqlite"]
BROKER_BACKENDS = ["memory"]


def store_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    raise AssertionError(backend)


@pytest.fixture(params=STORE_BACKENDS)
def store_factory(request, tmp_path):
    opened = []

    async def make():
        store = open_store(store_url(request.param, tmp_path))
        await store.open()
        opened.append(store)
        return store

    yield make


@pytest.fixture
async def store(store_factory):
    store = await store_factory()
    yield store
    await store.close()


@pytest.fixture(params=BROKER_BACKENDS)
async def broker(request):
    broker = open_broker(f"{request.param}://")
    await broker.open()
    yield broker
    await broker.close()
