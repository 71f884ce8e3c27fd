"""The registry: which models this server runs, by name and by version."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from replicast.config import Settings
from replicast.errors import ConfigError, InvalidVersion, Unavailable
from replicast.models import diagnostic, flux_spec
from replicast.models.base import Model, Runner
from replicast.models.safety import SafetyChecker
from replicast.models.standin import FluxStandIn
from replicast.models.weights import SAFETY_CHECKER, flux_installed, status

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
    """The FLUX models (real where their weights are, else stand-ins) and the diagnostic ones."""
    weights_dir = settings.weights if settings else None
    safety: SafetyChecker | None = None
    if weights_dir is not None and flux_installed() and SafetyChecker.present(
            weights_dir / SAFETY_CHECKER):
        safety = SafetyChecker(weights_dir / SAFETY_CHECKER,
                               device=settings.device if settings else "auto")

    def runner(name: str) -> Runner:
        found = status(weights_dir, name) if weights_dir is not None else None
        if found is not None:
            log.info("%s: %s", name, found.reason)
        if found is None or not found.runnable:
            return FluxStandIn(name)
        from replicast.models.flux import FluxRunner

        assert settings is not None
        return FluxRunner(name, found.folder, device=settings.device,
                          load_at_startup=settings.load_models == "startup", safety=safety)

    flux = [
        Model(
            owner=name.split("/")[0],
            name=name.split("/")[1],
            description=flux_spec.DESCRIPTIONS[name],
            openapi_schema=schema,
            runner=runner(name),
            version_created_at=flux_spec.VERSION_CREATED_AT,
            official=True,
            github_url="https://github.com/black-forest-labs/flux",
            license_url="https://github.com/black-forest-labs/flux/tree/main/model_licenses",
        )
        for name, schema in flux_spec.schemas().items()
    ]
    return [*flux, *diagnostic.models()]
