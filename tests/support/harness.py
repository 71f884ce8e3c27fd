"""The domain wired up in-process (store, broker, worker, service), without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from replicast.accounts.account import Account
from replicast.broker.memory import MemoryBroker
from replicast.config import Settings
from replicast.input_fetch import InputFetcher
from replicast.models.base import Model, Runner
from replicast.models.registry import Registry
from replicast.models.schema import InputField, cog_openapi
from replicast.outputs.local import LocalOutputs
from replicast.predictions.deadlines import Deadlines
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.prediction import Prediction
from replicast.predictions.service import PredictionService
from replicast.store.sqlite.store import SQLiteStore
from replicast.times import now
from replicast.worker.worker import Worker


class FunctionRunner(Runner):
    """A runner made from an async function ``(context, inputs) -> output``."""

    def __init__(self, function: Callable[..., Any], concurrency: int = 4) -> None:
        self.function = function
        self.concurrency = concurrency

    async def predict(self, context: Any, inputs: dict[str, Any]) -> Any:
        return await self.function(context, inputs)


def model(name: str, function: Callable[..., Any], concurrency: int = 4) -> Model:
    schema = cog_openapi([InputField("value", "string", default="")], {"type": "string"})
    owner, _, short = name.partition("/")
    return Model(owner, short, name, schema, FunctionRunner(function, concurrency), now())


class Harness:
    """Everything a prediction touches, in one process, on a temp folder."""

    def __init__(self, tmp_path: Path, models: list[Model], *,
                 listeners: Sequence[LifecycleListener] = (), **settings: Any) -> None:
        self.settings = Settings(data_dir=tmp_path, **settings)
        self.store = SQLiteStore(tmp_path / "replicast.db")
        self.broker = MemoryBroker()
        self.lifecycle = Lifecycle(self.store.predictions, self.broker, listeners=listeners)
        self.deadlines = Deadlines(self.store.runs, self.lifecycle)
        self.service = PredictionService(self.store.predictions, self.broker, self.lifecycle,
                                         self.deadlines, page_size=3)
        self.registry = Registry(models)
        self.fetcher = InputFetcher(max_bytes=1_000_000, timeout=5)
        self.worker = Worker(self.settings, self.registry, self.store, self.broker,
                             self.lifecycle, LocalOutputs(tmp_path / "outputs"), self.fetcher)
        self.account: Account

    async def open(self, *, worker: bool = True) -> Harness:
        await self.store.open()
        self.account = await self.store.accounts.ensure_account("tester")
        await self.deadlines.start()
        if worker:
            await self.worker.start()
        return self

    async def close(self, grace: float = 0.0) -> None:
        await self.worker.stop(grace)
        await self.deadlines.stop()
        await self.fetcher.close()
        await self.store.close()

    async def create(self, name: str, wait: float | None = None, **kwargs: Any) -> Prediction:
        input = kwargs.pop("input", {})
        return await self.service.create(self.account, self.registry.get(name), input,
                                         base_url="http://test", wait=wait, **kwargs)

    async def until(self, prediction_id: str, check: Callable[[Prediction], bool],
                    timeout: float = 5.0) -> Prediction:
        give_up = asyncio.get_running_loop().time() + timeout
        async with self.broker.subscribe(prediction_id) as subscription:
            while True:
                current = await self.store.predictions.get(prediction_id)
                assert current is not None
                if check(current):
                    return current
                remaining = give_up - asyncio.get_running_loop().time()
                assert remaining > 0, f"gave up waiting; last state: {current}"
                await subscription.next(remaining)
