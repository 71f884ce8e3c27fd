"""Models that share one runner's slots, and taking the next prediction of any of them.

Several models may be served by one loaded pipeline (flux-dev and flux-dev-lora, a
closed model on an open model's weights): their runners name the same ``slot_pool``,
and the pipeline's ``concurrency`` bounds their predictions together. One set of
consumers serves the pool: each claims a slot, then takes the oldest prediction of
whichever of the pool's models has one first, so that no model's consumers sit on
every slot while another model's predictions wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from replicast.broker.base import Broker
from replicast.broker.offer import Offer
from replicast.models.base import Model

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pool:
    """The models one worker serves on one slot pool."""

    models: dict[str, Model] = field(default_factory=dict)

    @property
    def concurrency(self) -> int:
        """How many of the pool's predictions run at once (its runners agree)."""
        return max(m.runner.concurrency for m in self.models.values())

    @property
    def label(self) -> str:
        """The pool's name in task names and logs."""
        return "+".join(self.models)


def pools(models: Iterable[Model]) -> list[Pool]:
    """``models`` grouped by their runners' slot pools, in order of first appearance."""
    found: dict[int, tuple[object, Pool]] = {}
    for model in models:
        key = model.runner.slot_pool
        pool = found.setdefault(id(key), (key, Pool()))[1]
        pool.models[model.full_name] = model
    return [pool for _, pool in found.values()]


async def dequeue_any(broker: Broker, names: list[str]) -> tuple[str, str | Offer]:
    """The model in ``names`` whose queue has a prediction first, and that prediction
    (the oldest of its queue, or one offered); one taken meanwhile from another queue goes
    back to it (an offer, to its create)."""
    if len(names) == 1:
        return names[0], await broker.dequeue(names[0])
    takes: dict[asyncio.Future[str | Offer], str] = {
        asyncio.ensure_future(broker.dequeue(name)): name for name in names}
    try:
        done, _ = await asyncio.wait(takes, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # stopped: nothing is taken
        await _put_back(broker, takes, keep=None)
        raise
    first = next(take for take in takes if take in done)
    try:
        await _put_back(broker, takes, keep=first)
    except BaseException:  # stopped while putting the others back: this one goes back too
        if first.exception() is None:
            await _give_back(broker, takes[first], first.result())
        raise
    return takes[first], first.result()  # the broker's error, if that is what came


async def dequeue_unless_paused(broker: Broker, pool: Pool) -> tuple[str, str | Offer] | None:
    """``dequeue_any`` of the pool's models, unless one of their runners pauses first (an
    unhealthy predictor): None then, with nothing taken, so that predictions stay queued.

    A pause cancels the wait (the queue keeps what it held, as for any cancel) rather than
    racing it in tasks of its own: no task, no future per prediction taken.
    """
    runners = [m.runner for m in pool.models.values() if m.runner.pauses]
    if not runners:
        return await dequeue_any(broker, list(pool.models))
    if any(runner.paused for runner in runners):
        return None
    task = asyncio.current_task()
    assert task is not None
    paused = False

    def pause() -> None:
        nonlocal paused
        if not paused:
            paused = True
            task.cancel()

    stops = [runner.on_pause(pause) for runner in runners]
    try:
        return await dequeue_any(broker, list(pool.models))
    except asyncio.CancelledError:
        if paused and task.uncancel() == 0:  # the pause's own cancel, and no other
            return None
        raise
    finally:
        for stop in stops:
            stop()


async def _put_back(broker: Broker, takes: dict[asyncio.Future[str | Offer], str],
                    keep: asyncio.Future[str | Offer] | None) -> None:
    others = [take for take in takes if take is not keep]
    for take in others:
        take.cancel()
    try:
        await asyncio.gather(*others, return_exceptions=True)
    finally:  # stopped meanwhile too: a take still being canceled gives back its own
        taken = [(takes[take], take.result()) for take in others if take.done()
                 and not take.cancelled() and take.exception() is None]
        taken.sort(key=lambda pair: not isinstance(pair[1], Offer))  # their creates wait
        for name, item in taken:
            await _give_back(broker, name, item)


async def _give_back(broker: Broker, name: str, item: str | Offer) -> None:
    """Return what a take got and will not use: an offer to its create, an id to its queue."""
    if isinstance(item, Offer):
        item.decline()
        return
    log.debug("putting prediction %s back on %s's queue", item, name)
    await broker.enqueue(name, item)
