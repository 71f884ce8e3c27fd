"""What serves each catalog model: the operator's choice (``REPLICAST_MODEL_BACKENDS``).

One entry per model, comma- or newline-separated, ``owner/name=backend``::

    black-forest-labs/flux-kontext-max=weights:black-forest-labs/flux-kontext-pro,
    black-forest-labs/flux-1.1-pro=gateway,
    black-forest-labs/flux-dev=stand-in

- ``stand-in``: placeholder images of the exact shape (``standin.py``);
- ``weights``: the model's own open weights (a LoRA model: its base's), a stand-in
  while they are not in the weights folder;
- ``weights:<owner/name>``: another catalog model's open weights, for a closed model
  that model can serve (``SERVED_BY`` says which, and why);
- ``gateway``: a route of ``REPLICAST_ROUTES`` forwards it upstream; it is then no local
  model.

A model not named keeps its default: ``weights`` if it has weights of its own, else
``stand-in``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from replicast.errors import ConfigError
from replicast.gateway.routing import UpstreamRoute, match
from replicast.models import catalog
from replicast.models.catalog import kontext

VARIABLE = "REPLICAST_MODEL_BACKENDS"
STAND_IN = "stand-in"
WEIGHTS = "weights"
GATEWAY = "gateway"

SERVED_BY: dict[str, tuple[str, ...]] = {
    # The same inputs as flux-kontext-pro, whose folder holds FLUX.1 Kontext [dev].
    kontext.KONTEXT_MAX: (kontext.KONTEXT_PRO,),
}
"""For each closed model, the open models whose runner takes exactly its inputs (the
registry serves a model on another's weights only then). FLUX.2 [pro], [max] and [flex]
take inputs the FLUX.2 runners do not map (``safety_tolerance``, ``resolution``,
[flex]'s prompt upsampling); the FLUX.1 [pro] line's ``image_prompt`` is a FLUX Redux
image prompt, which no open model here takes: those models are stand-ins or routed."""


@dataclass(frozen=True, slots=True)
class Backend:
    """What serves one model."""

    kind: str
    """``stand-in``, ``weights`` or ``gateway``."""
    weights_of: str | None = None
    """With ``weights``: the model whose weights folder runs it."""

    def __str__(self) -> str:
        return f"{WEIGHTS}:{self.weights_of}" if self.weights_of else self.kind


@dataclass(frozen=True, slots=True)
class Choice:
    """The operator's backend for one model."""

    model: str
    backend: Backend


def parse(raw: str) -> tuple[Choice, ...]:
    """The entries of ``REPLICAST_MODEL_BACKENDS``; ``ValueError`` for one malformed."""
    choices: list[Choice] = []
    for entry in (e.strip() for e in raw.replace("\n", ",").split(",")):
        if not entry:
            continue
        model, equals, value = (part.strip() for part in entry.partition("="))
        owner, slash, name = model.partition("/")
        if not equals or not owner or not slash or not name or "/" in name:
            raise ValueError(f"{entry!r} must be owner/name=backend")
        kind, colon, source = value.partition(":")
        if kind not in {STAND_IN, WEIGHTS, GATEWAY} or (colon and (kind != WEIGHTS
                                                                    or not source)):
            raise ValueError(f"{entry!r}: the backend must be {STAND_IN}, {WEIGHTS}, "
                             f"{WEIGHTS}:<owner/name> or {GATEWAY}")
        choices.append(Choice(model, Backend(kind, source.strip() or None)))
    return tuple(choices)


def check(choices: Iterable[Choice], routes: Sequence[UpstreamRoute]) -> None:
    """Refuse choices that cannot work, naming the variable, the model and why."""
    seen: set[str] = set()
    for choice in choices:
        model, backend = choice.model, choice.backend
        if model in seen:
            raise _error(f"{model} is named twice")
        seen.add(model)
        if model not in catalog.SPECS:
            raise _error(f"{model} is no catalog model; the catalog has "
                         + ", ".join(catalog.names()))
        own = catalog.spec(model).runs_on
        if backend.kind == GATEWAY and match(routes, model) is None:
            raise _error(f"{model}={backend}, but no route in REPLICAST_ROUTES covers it")
        if backend.kind != WEIGHTS:
            continue
        source = backend.weights_of or own
        if source is None:
            able = SERVED_BY.get(model, ())
            raise _error(f"{model} has no open weights of its own: "
                         + (f"name whose to use, such as {WEIGHTS}:{able[0]}" if able else
                            f"choose {STAND_IN} or {GATEWAY}"))
        if own is not None and source != own:
            raise _error(f"{model} is served by its own weights ({WEIGHTS}, or {WEIGHTS}:"
                         f"{own}), not {source}'s")
        if own is None and source not in SERVED_BY.get(model, ()):
            able = SERVED_BY.get(model, ())
            raise _error(f"{source}'s weights cannot serve {model}: it cannot honour all of "
                         f"{model}'s inputs. "
                         + (f"Models that can: {', '.join(able)}" if able else
                            f"No open model can; choose {STAND_IN} or {GATEWAY}"))


def backend_for(model: str, choices: Iterable[Choice]) -> Backend:
    """What serves catalog model ``model``: the operator's choice, else the default."""
    for choice in choices:
        if choice.model == model:
            backend = choice.backend
            if backend.kind == WEIGHTS and backend.weights_of is None:
                return Backend(WEIGHTS, catalog.spec(model).runs_on)
            return backend
    own = catalog.spec(model).runs_on
    return Backend(WEIGHTS, own) if own is not None else Backend(STAND_IN)


def _error(problem: str) -> ConfigError:
    return ConfigError(f"{VARIABLE}: {problem}")
