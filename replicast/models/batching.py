"""Dynamic batching: predictions that can share a pipeline call run as one.

Predictions wait in one queue per runner, in arrival order, each with a key (what must
be equal for two of them to share a call: the pipeline, the size, the steps...; None
for one that always runs alone) and a cost (the pixels it makes). One call runs at a
time. When the device comes free, the next call takes the oldest waiting prediction
and, after it, the others with its key, oldest first, as far as ``BatchLimits``
allow. So the first prediction to come to an idle device starts at once, alone;
those that come while a call runs are gathered for the next one; and a prediction
is never passed by one that came after it except in a call that also serves one
that came before it: a stream of predictions of one size holds back a prediction of
another size by one call at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How much one batched call may take."""

    max_size: int = 8
    """Most predictions in one call."""
    max_pixels: int = 4 * 1024 * 1024
    """Most pixels the images of one call may add up to (width x height x images);
    a prediction over it alone still runs, alone."""


@dataclass(eq=False, slots=True)
class _Entry(Generic[T, R]):
    item: T
    key: Hashable | None
    cost: int
    future: asyncio.Future[R] = field(repr=False)


class BatchQueue(Generic[T]):
    """Waiting items in arrival order; ``take`` makes the next call's batch."""

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self._waiting: list[tuple[T, Hashable | None, int]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, item: T, key: Hashable | None, cost: int) -> None:
        """Add an item that may share a call with the others of ``key`` (None: with none)."""
        self._waiting.append((item, key, cost))

    def discard(self, item: T) -> bool:
        """Take an item out before it runs; whether it was waiting."""
        for index, (waiting, _, _) in enumerate(self._waiting):
            if waiting == item:
                del self._waiting[index]
                return True
        return False

    def take(self) -> list[T]:
        """The next call's items: the oldest, then the oldest of its key that fit."""
        if not self._waiting:
            return []
        _, key, total = self._waiting[0]
        chosen = [0]
        if key is not None:
            for index, (_, other, cost) in enumerate(self._waiting[1:], 1):
                if len(chosen) >= self.limits.max_size:
                    break
                if other == key and total + cost <= self.limits.max_pixels:
                    chosen.append(index)
                    total += cost
        taken = [self._waiting[index][0] for index in chosen]
        for index in reversed(chosen):
            del self._waiting[index]
        return taken


class Batcher(Generic[T, R]):
    """Runs submitted items through ``run``, a batch at a time, on the running loop.

    ``run`` gets a batch and returns one result per item, in order; an exception it
    raises is every item's. A submit canceled while its item waits takes it out of the
    queue; canceled while its batch runs, it returns at once and the batch goes on.
    """

    def __init__(self, limits: BatchLimits, run: Callable[[list[T]], Awaitable[list[R]]]
                 ) -> None:
        self._queue: BatchQueue[_Entry[T, R]] = BatchQueue(limits)
        self._run = run
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T, key: Hashable | None, cost: int) -> R:
        """``item``'s result, once a batch with it has run."""
        entry: _Entry[T, R] = _Entry(item, key, cost,
                                     asyncio.get_running_loop().create_future())
        self._queue.put(entry, key, cost)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="batcher")
        try:
            return await entry.future
        except asyncio.CancelledError:
            self._queue.discard(entry)
            raise

    async def _drain(self) -> None:
        while batch := [entry for entry in self._queue.take() if not entry.future.done()]:
            try:
                results = await self._run([entry.item for entry in batch])
            except asyncio.CancelledError:  # the loop is closing: nothing more runs
                for entry in batch:
                    entry.future.cancel()
                while rest := self._queue.take():
                    for entry in rest:
                        entry.future.cancel()
                raise
            except Exception as exc:
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
            else:
                for entry, result in zip(batch, results, strict=True):
                    if not entry.future.done():
                        entry.future.set_result(result)
            for entry in batch:  # an exception no one awaits any more is no news
                if not entry.future.cancelled():
                    entry.future.exception()
