"""The registry: which models this server runs, by name and by version."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from replicast.config import LORA_MAX_BYTES, Settings
from replicast.errors import ConfigError, InvalidVersion, Unavailable
from replicast.models import backends, catalog, diagnostic
from replicast.models.base import Model, Runner, WeightsUse
from replicast.models.batching import BatchLimits
from replicast.models.catalog import checks, flux1, flux2, kontext, lora
from replicast.models.catalog.record import ModelSpec
from replicast.models.encoders import SharedEncoders
from replicast.models.lora import admission as lora_admission
from replicast.models.lora.library import LoraLibrary
from replicast.models.safety import SafetyChecker
from replicast.models.schema import InputField
from replicast.models.speed import Tuning
from replicast.models.standin import FluxStandIn
from replicast.models.weights import (
    HUB_REPOSITORIES,
    SAFETY_CHECKER,
    WeightsStatus,
    flux_installed,
    status,
)

log = logging.getLogger(__name__)

_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")


class Resolver(Protocol):
    """Models this server does not run itself but can name (gateway mode's routes)."""

    async def resolve(self, full_name: str) -> Model | None:
        """The model called ``full_name``, or None."""

    async def listed(self) -> list[Model]:
        """The models to list (those that can be named exactly)."""

    async def resolve_version(self, full_name: str, version_id: str) -> Model | None:
        """The model ``full_name`` at version ``version_id``, or None."""

    def cached(self, version_id: str) -> Model | None:
        """A model already resolved whose version is ``version_id``."""

    def covers(self, full_name: str) -> bool:
        """Whether ``full_name`` is one the resolver may resolve."""

    def exact_names(self) -> tuple[str, ...]:
        """The names the resolver knows of in advance."""

    @property
    def has_patterns(self) -> bool:
        """Whether it may resolve names it does not know in advance."""


class Registry:
    """Models by ``owner/name`` and by version id: this server's own, then routed ones.

    ``get`` and iteration see only local models; ``lookup``, ``lookup_version`` and
    ``listing`` also ask the resolver (which may call an upstream), and tell those
    listening (the worker) of every routed model they hand out.
    """

    def __init__(self, models: Iterable[Model], *, resolver: Resolver | None = None) -> None:
        self.resolver = resolver
        self._listeners: list[Callable[[Model], None]] = []
        self._by_name: dict[str, Model] = {}
        self._by_version: dict[str, Model] = {}
        for model in models:
            if model.full_name in self._by_name:
                raise ConfigError(f"two models are named {model.full_name}")
            self._by_name[model.full_name] = model
            self._by_version[model.version_id] = model

    def __iter__(self) -> Iterator[Model]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, full_name: str) -> Model | None:
        """The model called ``owner/name``, or None."""
        return self._by_name.get(full_name)

    def run_slots(self, full_name: str) -> int:
        """How many predictions of the model a worker runs at once (its runner's
        ``concurrency``); 1 for a model not served here."""
        model = self._by_name.get(full_name)
        return 1 if model is None else model.runner.concurrency

    def routed(self, full_name: str) -> bool:
        """Whether ``full_name`` is no local model but one the resolver covers."""
        return full_name not in self._by_name and self.resolver is not None \
            and self.resolver.covers(full_name)

    def on_resolved(self, listener: Callable[[Model], None]) -> None:
        """Call ``listener`` with every routed model handed out from now on."""
        self._listeners.append(listener)

    async def lookup(self, full_name: str) -> Model | None:
        """The model called ``owner/name``: a local one, else a routed one, else None.

        ``Unavailable`` when the name is routed and its upstream cannot describe it.
        """
        model = self._by_name.get(full_name)
        if model is not None or self.resolver is None:
            return model
        model = await self.resolver.resolve(full_name)
        if model is not None:
            for listener in self._listeners:
                listener(model)
        return model

    async def lookup_version(self, ref: str) -> Model:
        """``resolve_version``, routed models included."""
        try:
            return self.resolve_version(ref)
        except InvalidVersion:
            if self.resolver is None:
                raise
        name, colon, version = ref.partition(":")
        model: Model | None
        if colon:
            model = await self.lookup(name)  # a routed one is served from now on
            if model is not None and model.version_id != version:
                # Another version: only a routed model's upstream may still have it.
                model = (await self.resolver.resolve_version(name, version)
                         if self.routed(name) else None)
        elif _VERSION_ID.match(ref):
            model = self.resolver.cached(ref)
            if model is None:
                # Perhaps the latest version of a name routed exactly, not described yet.
                for routed in self.resolver.exact_names():
                    if self.routed(routed):
                        with contextlib.suppress(Unavailable):
                            await self.lookup(routed)
                model = self.resolver.cached(ref)
            if model is not None:
                await self.lookup(model.full_name)
        else:
            model = await self.lookup(ref)
        if model is None:
            raise InvalidVersion()
        return model

    async def lookup_model_version(self, full_name: str, version_id: str) -> Model | None:
        """The model called ``full_name`` at version ``version_id`` (a routed model's
        older versions too), or None."""
        model = await self.lookup(full_name)
        if model is None or model.version_id == version_id:
            return model
        if self.resolver is None or not self.routed(full_name):
            return None
        return await self.resolver.resolve_version(full_name, version_id)

    async def listing(self) -> list[Model]:
        """Every model to list: the local ones, then the routed ones named exactly."""
        routed = await self.resolver.listed() if self.resolver is not None else []
        return [*self._by_name.values(),
                *(m for m in routed if m.full_name not in self._by_name)]

    def resolve_version(self, ref: str) -> Model:
        """The model a create request's ``version`` names, in any form Replicate accepts.

        ``owner/name``, ``owner/name:<64 hex>`` or a bare 64-hex version id.
        """
        name, colon, version = ref.partition(":")
        if not colon:
            by = self._by_version if _VERSION_ID.match(ref) else self._by_name
            model = by.get(ref)
        else:
            model = self._by_name.get(name)
            if model is not None and model.version_id != version:
                model = None
        if model is None:
            raise InvalidVersion()
        return model


def builtin_models(settings: Settings | None = None) -> list[Model]:
    """The catalog's FLUX models, each served as ``REPLICAST_MODEL_BACKENDS`` chooses (by
    default real where their weights are, else stand-ins; routed ones are left to the
    gateway), then the diagnostic models."""
    choices = settings.model_backends if settings is not None else ()
    runners = _Runners(settings)
    max_lora = settings.lora_max_bytes if settings is not None else LORA_MAX_BYTES
    models = []
    for spec in catalog.SPECS.values():
        backend = backends.backend_for(spec.name, choices)
        if backend.kind == backends.GATEWAY:
            log.info("%s: routed upstream (REPLICAST_MODEL_BACKENDS)", spec.name)
            continue
        runner, weights = runners.runner(spec, backend)
        models.append(Model(
            owner=spec.owner,
            name=spec.short_name,
            description=spec.description,
            openapi_schema=spec.openapi_schema(),
            runner=runner,
            version_created_at=spec.version_created_at,
            official=True,
            github_url="https://github.com/black-forest-labs/flux",
            license_url="https://github.com/black-forest-labs/flux/tree/main/model_licenses",
            given_version_id=spec.version_id,
            input_check=functools.partial(checks.check, spec),
            create_check=(functools.partial(lora_admission.check_create, spec.name,
                                            max_lora)
                          if spec.name in _LORA else None),
            weights=weights,
        ))
    return [*models, *diagnostic.models()]


class _Runners:
    """The runner of each catalog model, by its backend; one real runner per weights
    folder, shared by every model served from it."""

    def __init__(self, settings: Settings | None) -> None:
        self.settings = settings
        self.weights_dir = settings.weights if settings is not None else None
        self.safety: SafetyChecker | None = None
        if self.weights_dir is not None and flux_installed() and SafetyChecker.present(
                self.weights_dir / SAFETY_CHECKER):
            assert settings is not None
            self.safety = SafetyChecker(self.weights_dir / SAFETY_CHECKER,
                                        device=settings.device)
        self.encoders = SharedEncoders()
        self._loaded: dict[str, Runner] = {}
        self._library: LoraLibrary | None = None

    def runner(self, spec: ModelSpec, backend: backends.Backend
               ) -> tuple[Runner, WeightsUse | None]:
        """What runs ``spec``'s predictions, and whose weights when real ones do."""
        source = backend.weights_of
        if backend.kind != backends.WEIGHTS or source is None or self.weights_dir is None:
            if spec.runs_on is None:
                log.info("%s: stand-in (a closed model; REPLICAST_MODEL_BACKENDS may serve it "
                         "otherwise)", spec.name)
            elif backend.kind == backends.STAND_IN:
                log.info("%s: stand-in (REPLICAST_MODEL_BACKENDS)", spec.name)
            return FluxStandIn(spec.name), None
        random = self._random_size(source) is not None
        found = (WeightsStatus(source, self.weights_dir / source, present=True,
                               runnable=flux_installed()) if random
                 else status(self.weights_dir, source))
        borrowed = "" if source == spec.runs_on else f"{source}'s "
        if not found.runnable:
            if borrowed:
                log.info("%s: stand-in until %s's weights can run (%s)", spec.name, source,
                         found.reason)
            else:
                log.info("%s: %s", spec.name, found.reason)
            return FluxStandIn(spec.name), None
        real = self._real(spec, source, found)
        if real is None:
            log.info("%s: stand-in: this build has no diffusers runner for it on %s's "
                     "weights in %s", spec.name, source, found.folder)
            return FluxStandIn(spec.name), None
        if random:
            log.warning("%s: diffusers, RANDOM weights in %s's architecture at %s size "
                        "(REPLICAST_RANDOM_WEIGHTS): real speed, images of noise", spec.name,
                        source, self._random_size(source))
            return real, WeightsUse(source, HUB_REPOSITORIES.get(source), random=True)
        shared = f", text encoder shared from {found.encoder}" if found.encoder else ""
        log.info("%s: diffusers, %sweights in %s%s", spec.name, borrowed, found.folder, shared)
        return real, WeightsUse(source, HUB_REPOSITORIES.get(source))

    def _random_size(self, source: str) -> str | None:
        """The size of the random weights ``source``'s runner is built with; None: its
        weights are loaded from its folder."""
        if self.settings is None or source not in self.settings.random_weights:
            return None
        return self.settings.random_weights_size

    def _real(self, spec: ModelSpec, source: str, found: WeightsStatus) -> Runner | None:
        """The diffusers runner serving ``spec`` from ``source``'s weights; None where this
        build has none. Real runners for more open models plug in here, by the name of the
        model whose weights they load."""
        if spec.name in _LORA and source == spec.runs_on:
            return self._lora(spec.name, source, found)
        if not _same_inputs(spec, catalog.spec(source)):
            return None
        if source in _FLUX1:
            return self._shared(source, lambda: self._flux1(source, found.folder))
        if source in _FLUX2:
            return self._shared(source, lambda: self._flux2(source, found))
        return None

    def _shared(self, source: str, make: Callable[[], Runner]) -> Runner:
        if source not in self._loaded:
            from replicast.models.diffusers_runner import DiffusersRunner

            runner = make()
            if isinstance(runner, DiffusersRunner):
                runner.random_weights = self._random_size(source)
            self._loaded[source] = runner
        return self._loaded[source]

    def _flux1(self, source: str, folder: Path) -> Runner:
        from replicast.models.flux import FluxRunner

        assert self.settings is not None
        return FluxRunner(source, folder, device=self.settings.device,
                          load_at_startup=self.settings.load_models == "startup",
                          safety=self.safety, tuning=self._tuning(),
                          batching=self._batching())

    def _lora(self, model: str, source: str, found: WeightsStatus) -> Runner:
        from replicast.models.flux import FluxRunner
        from replicast.models.lora_runner import LoraRunner

        assert self.settings is not None
        base = self._shared(source, lambda: self._flux1(source, found.folder))
        assert isinstance(base, FluxRunner)
        if self._library is None:  # one for every LoRA model of the process
            self._library = LoraLibrary.from_settings(self.settings)
        return LoraRunner(model, base, self._library)

    def _flux2(self, source: str, found: WeightsStatus) -> Runner:
        from replicast.models.flux2 import Flux2Runner

        assert self.settings is not None
        return Flux2Runner(source, found.folder, size=flux2.size, encoder=found.encoder,
                           encoders=self.encoders, device=self.settings.device,
                           load_at_startup=self.settings.load_models == "startup",
                           safety=self.safety, tuning=self._tuning(),
                           batching=self._batching())

    def _batching(self) -> BatchLimits | None:
        assert self.settings is not None
        if not self.settings.batching:
            return None
        return BatchLimits(max_size=self.settings.max_batch,
                           max_pixels=self.settings.max_batch_pixels)

    def _tuning(self) -> Tuning:
        assert self.settings is not None
        return Tuning(step_cache=self.settings.step_cache,
                      compile=self.settings.compile_models, warm_up=self.settings.warm_up)


_FLUX1 = (flux1.SCHNELL, flux1.DEV, kontext.KONTEXT_PRO)
"""Models whose weights ``FluxRunner`` loads; it serves models with their inputs."""
_LORA = (lora.DEV_LORA, lora.SCHNELL_LORA)
"""Models that run on a FLUX.1 model's weights with the LoRAs their requests name."""
_FLUX2 = (flux2.DEV, flux2.KLEIN_4B, flux2.KLEIN_9B, flux2.KLEIN_4B_BASE, flux2.KLEIN_9B_BASE)
"""Models whose weights ``Flux2Runner`` loads."""


def _same_inputs(spec: ModelSpec, other: ModelSpec) -> bool:
    """Whether two models take the same inputs (whatever their order in the schema)."""
    def plain(fields: tuple[InputField, ...]) -> tuple[InputField, ...]:
        return tuple(dataclasses.replace(f, ordered=True) for f in fields)

    return plain(spec.inputs) == plain(other.inputs)
