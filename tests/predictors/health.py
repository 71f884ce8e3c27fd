"""Predictors with a ``healthcheck()``, written against the real ``cog`` package.

``Predictor`` and ``AsyncPredictor`` fail theirs while a file named ``sync`` (or
``async``) is in the folder ``$HEALTH_FLAGS``; the others always fail theirs, each in
another way.
"""

import asyncio
import os
import time
from pathlib import Path

from cog import BasePredictor, Input


def flagged(name: str) -> bool:
    folder = os.environ.get("HEALTH_FLAGS")
    return folder is not None and (Path(folder) / name).exists()


class Predictor(BasePredictor):
    """Healthy unless flagged."""

    def predict(self, text: str = Input(default="hi"), wait: float = Input(default=0.0)) -> str:
        time.sleep(wait)
        return f"echo {text}"

    def healthcheck(self) -> bool:
        print("checking my health")
        return not flagged("sync")


class AsyncPredictor(BasePredictor):
    async def predict(self, text: str = Input(default="hi")) -> str:
        await asyncio.sleep(0)
        return f"async echo {text}"

    async def healthcheck(self) -> bool:
        await asyncio.sleep(0)
        if flagged("async"):
            raise RuntimeError("the async check says no")
        return True


class ReturnsFalse(BasePredictor):
    def predict(self) -> str:
        return "never runs"

    def healthcheck(self) -> bool:
        return False


class Raises(BasePredictor):
    def predict(self) -> str:
        return "never runs"

    def healthcheck(self) -> bool:
        raise OSError("the disk is gone")


class Hangs(BasePredictor):
    def predict(self) -> str:
        return "never runs"

    def healthcheck(self) -> bool:
        time.sleep(3600)
        return True


class AsyncHangs(BasePredictor):
    async def predict(self) -> str:
        return "never runs"

    async def healthcheck(self) -> bool:
        await asyncio.sleep(3600)
        return True


class AsyncBlocks(BasePredictor):
    """Its healthcheck blocks the event loop it runs on: its process cannot answer."""

    async def predict(self) -> str:
        return "ran"

    async def healthcheck(self) -> bool:
        time.sleep(float(os.environ.get("HEALTH_BLOCK_SECONDS", "3")))  # noqa: ASYNC251
        return True


class NoHealthcheck(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return f"plain {text}"
