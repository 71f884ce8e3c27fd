"""Telling an upstream that a prediction handed on to it has ended here (gateway mode).

A routed prediction that fails, is canceled or aborted here other than by the run
following it (a cancel before it ran, a deadline) is canceled at its upstream too,
through its model's runner. That happens in the background: the change is made, and
whoever asked for it need not wait on another server (nor fail when that one is down).
"""

from __future__ import annotations

import asyncio
import logging

from replicast.models.registry import Registry
from replicast.predictions.listener import LifecycleListener
from replicast.predictions.prediction import Prediction

log = logging.getLogger(__name__)


class Withdrawals(LifecycleListener):
    """Cancels at their upstreams the handed-on predictions that ended here."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._withdrawing: set[asyncio.Task[None]] = set()

    def ended_here(self, prediction: Prediction) -> None:
        if prediction.upstream_id is None:
            return
        task = asyncio.create_task(self._withdraw(prediction), name=f"withdraw-{prediction.id}")
        self._withdrawing.add(task)
        task.add_done_callback(self._withdrawing.discard)

    async def _withdraw(self, prediction: Prediction) -> None:
        try:
            model = await self.registry.lookup(prediction.model)
            if model is not None and prediction.upstream_id is not None:
                await model.runner.withdraw(prediction.upstream_id)
        except Exception:
            log.exception("could not cancel %s at its upstream", prediction.id)

    async def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the upstreams being told."""
        if self._withdrawing:
            await asyncio.wait(set(self._withdrawing), timeout=timeout)
