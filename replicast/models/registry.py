"""The registry: which models this server runs, by name and by version."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator

from replicast.config import Settings
from replicast.errors import ConfigError, InvalidVersion
from replicast.models import diagnostic, flux_spec
from replicast.models.base import Model, Runner
from replicast.models.safety import SafetyChecker
from replicast.models.standin import FluxStandIn
from replicast.models.weights import SAFETY_CHECKER, flux_installed, status

log = logging.getLogger(__name__)

_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")


class Registry:
    """Models by ``owner/name`` and by version id."""

    def __init__(self, models: Iterable[Model]) -> None:
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
