"""The routed models a worker serves (gateway mode): found as they are resolved, and
looked for while it runs.

A routed model is served from the first time the registry resolves it (``serve``, the
registry's ``on_resolved`` listener); its queue gets consumers then. A worker of its
own (``replicast worker``) answers no API request, so ``follow`` resolves the routed
names itself: the exact ones from the start, tried again with backoff while their
upstream cannot describe them; on a shared store, also those that predictions are
waiting for (pattern routes). Resolving them again now and then keeps their schemas
fresh (the gateway caches them ``schema_ttl``). A name whose predictions were left from
before and that its upstream no longer has fails those predictions (``_gone``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from replicast import times
from replicast.models.base import Model
from replicast.models.registry import Registry
from replicast.predictions.lifecycle import Lifecycle
from replicast.predictions.status import Status
from replicast.store.base import Store

log = logging.getLogger(__name__)

ROUTES_SECONDS = 1.0
"""How often a worker looks for routed models to serve: those named in the routes until
their upstream describes them, and (on a shared store) those of waiting predictions."""
_BACKOFF_MAX = 30.0
_BATCH = 1000


class RoutedModels:
    """The routed models one worker serves, as last resolved."""

    def __init__(self, registry: Registry, store: Store, lifecycle: Lifecycle, *,
                 wanted: tuple[str, ...], on_first: Callable[[Model], None]) -> None:
        self.registry = registry
        self.store = store
        self.lifecycle = lifecycle
        self.wanted = wanted
        """The names this worker serves (``REPLICAST_WORKER_MODELS``); empty for all."""
        self.on_first = on_first
        """Told of a routed model the first time it is served (to give it consumers)."""
        self.served: dict[str, Model] = {}
        self.awaited: set[str] = set()
        """Routed names with predictions left from before (``recovery.recover``)."""
        self._stopping = False

    def serve(self, model: Model) -> None:
        """Serve a routed model from now on (``on_first`` the first time)."""
        if self._stopping or (self.wanted and model.full_name not in self.wanted):
            return
        first = model.full_name not in self.served
        self.served[model.full_name] = model
        if first:
            self.on_first(model)

    def stop(self) -> None:
        """Serve no other model from now on."""
        self._stopping = True

    def latest(self, model: Model) -> Model:
        """``model`` as last resolved: a routed model's schema may have been fetched again
        since its consumers started."""
        return self.served.get(model.full_name, model)

    async def at_its_version(self, model: Model, prediction_id: str) -> Model:
        """The model to run the prediction with: a routed one not handed on yet may have
        been made at another of its upstream's versions, to be created by that one.
        Looked up before the run starts, so that no event of the run can be missed."""
        if not self.registry.routed(model.full_name):
            return model
        waiting = await self.store.predictions.get(prediction_id)
        if waiting is None or waiting.upstream_id is not None \
                or waiting.version == model.prediction_version:
            return model
        return await self.registry.lookup_version(f"{model.full_name}:{waiting.version}")

    async def follow(self) -> None:
        """Resolve the routed names every ``ROUTES_SECONDS`` (each found one is served
        through the registry's ``on_resolved``), until the worker stops."""
        resolver = self.registry.resolver
        assert resolver is not None
        exact = [n for n in (self.wanted or resolver.exact_names()) if self.registry.routed(n)]
        discover = self.store.shared and resolver.has_patterns and not self.wanted
        failures: dict[str, int] = {}
        next_try: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while not self._stopping:
            names = list(dict.fromkeys([*exact, *self.awaited, *self.served]))
            if discover:
                try:
                    names += [n for n in await self.store.runs.waiting_models(_BATCH)
                              if n not in names and self.registry.routed(n)]
                except Exception as exc:
                    log.warning("could not look for waiting routed predictions: %s", exc)
            for name in names:
                if loop.time() < next_try.get(name, 0.0):
                    continue
                try:
                    found = await self.registry.lookup(name)  # serves it (``on_resolved``)
                except Exception as exc:
                    failures[name] = failures.get(name, 0) + 1
                    wait = min(_BACKOFF_MAX, ROUTES_SECONDS * 2 ** failures[name])
                    next_try[name] = loop.time() + wait
                    if failures[name] == 1:
                        log.warning("cannot serve %s yet (trying again): %s", name, exc)
                    continue
                if found is None and name in exact:
                    log.warning("the upstream has no model %s; not serving it", name)
                    exact.remove(name)
                if found is None and name in self.awaited:
                    await self._gone(name)
                self.awaited.discard(name)
                failures.pop(name, None)
                next_try.pop(name, None)
            await asyncio.sleep(ROUTES_SECONDS)

    async def _gone(self, name: str) -> None:
        """Fail the predictions left waiting for a routed model its upstream no longer has."""
        waiting = await self.store.runs.list_waiting([name], times.now(), _BATCH)
        for prediction_id, _ in waiting:
            prediction = await self.store.predictions.get(prediction_id)
            if prediction is not None and prediction.status is Status.STARTING:
                await self.lifecycle.fail(
                    prediction, f"The model {name} is no longer served by its upstream")
