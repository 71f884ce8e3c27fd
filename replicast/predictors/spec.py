"""Which predictors to serve, and under what names: from flags, environment or a file.

A predictor is named by a reference ``path/to/predict.py:Predictor`` (a class or a
function in that file), or by a Cog project folder whose ``cog.yaml`` says
``predict:`` or ``run:``. It is served as the model ``owner/name``. A Cog project's
predictor runs from the project's folder, as from ``/src`` in a Cog image, with the
variables its ``cog.yaml`` lists under ``environment:``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from replicast.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?/[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class PredictorSpec:
    """One predictor to serve."""

    name: str
    """The model's ``owner/name``."""
    file: Path
    """The absolute path of the Python file that defines the predictor."""
    attribute: str
    """The class or function in ``file``."""
    description: str | None = None
    root: Path | None = None
    """The Cog project's folder; None for a predictor named by its file."""
    environment: tuple[tuple[str, str], ...] = ()
    """``cog.yaml``'s ``environment:`` variables, in order."""

    @property
    def reference(self) -> str:
        """``/abs/path/predict.py:Name``."""
        return f"{self.file}:{self.attribute}"

    @property
    def folder(self) -> Path:
        """Where the predictor runs (its working directory and first import root), as
        ``/src`` in a Cog image: the project's folder, or the file's own."""
        return self.root or self.file.parent

    def setting(self, name: str, environ: Mapping[str, str] = os.environ) -> str | None:
        """A ``COG_*`` setting as the predictor sees it: from ``cog.yaml``, else from the
        server's environment."""
        return dict(self.environment).get(name, environ.get(name))


def predictor_spec(name: str, reference: str, *, relative_to: Path | None = None,
                   description: str | None = None) -> PredictorSpec:
    """Check a name and a reference; resolve the reference to a file and an attribute."""
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a model name: use owner/name, in lowercase letters, "
                          "digits, '-', '_' and '.'")
    base = relative_to or Path.cwd()
    path_text, colon, attribute = reference.rpartition(":")
    root: Path | None = None
    environment: tuple[tuple[str, str], ...] = ()
    if not colon or "/" in attribute or not attribute.isidentifier():
        root = (base / reference).expanduser().resolve()
        path_text, attribute, environment = _from_cog_yaml(root)
    file = (base / path_text).expanduser().resolve()
    if file.suffix != ".py" or not file.is_file():
        raise ConfigError(f"{reference!r} for {name}: {file} is not a Python file")
    return PredictorSpec(name, file, attribute, description, root, environment)


def _from_cog_yaml(folder: Path) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """``(path, attribute, environment)`` from a Cog project's ``cog.yaml``."""
    config = folder / "cog.yaml"
    if not config.is_file():
        raise ConfigError(f"{folder} is neither path/to/predict.py:Name nor a folder with a "
                          "cog.yaml")
    try:
        document = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {config}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{config} must be a mapping (build:, predict:, ...)")
    entry = document.get("run") or document.get("predict")
    if not isinstance(entry, str) or ":" not in entry:
        raise ConfigError(f"{config} has no `predict: \"predict.py:Predictor\"` (or run:) line")
    path_text, _, attribute = entry.strip().rpartition(":")
    return str(folder / path_text), attribute, _environment(config, document.get("environment"))


def _environment(config: Path, listed: Any) -> tuple[tuple[str, str], ...]:
    """``cog.yaml``'s ``environment:``: a list of ``NAME=value``."""
    if listed is None:
        return ()
    if not isinstance(listed, list):
        raise ConfigError(f"{config}: `environment` must be a list of NAME=value")
    variables = []
    for entry in listed:
        name, equals, value = entry.partition("=") if isinstance(entry, str) else ("", "", "")
        if not equals or not _VARIABLE.match(name):
            raise ConfigError(f"{config}: environment entry {entry!r} is not NAME=value "
                              "(a name of letters, digits and '_', not starting with a digit)")
        if name.startswith("REPLICAST_"):
            raise ConfigError(f"{config}: environment entry {name} is one of the server's own "
                              "settings, which predictors do not see")
        variables.append((name, value))
    return tuple(variables)


def parse_pairs(text: str) -> tuple[PredictorSpec, ...]:
    """``owner/name=path.py:Class,owner/other=dir`` (REPLICAST_PREDICTORS)."""
    specs = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, equals, reference = entry.partition("=")
        if not equals:
            raise ValueError(f"{entry!r} is not owner/name=path/to/predict.py:Predictor")
        try:
            specs.append(predictor_spec(name.strip(), reference.strip()))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return tuple(specs)


def pair_flags(references: Iterable[str], names: Iterable[str]) -> tuple[PredictorSpec, ...]:
    """The specs of repeated ``--predictor REF --model-name NAME`` flags, paired in order."""
    references, names = list(references), list(names)
    if len(references) != len(names):
        raise ConfigError(f"{len(references)} --predictor and {len(names)} --model-name flags: "
                          "give each predictor a name")
    return tuple(predictor_spec(name, ref) for ref, name in zip(references, names, strict=True))


def read_models_file(path: Path) -> tuple[PredictorSpec, ...]:
    """The predictors a TOML models file lists (paths in it are relative to the file)::

        [[models]]
        name = "me/my-model"
        predictor = "predict.py:Predictor"
        description = "What it does"
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the models file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the models file {path} is not valid TOML: {exc}") from None
    entries = document.get("models", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: `models` must be a list of [[models]] tables")
    specs = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("predictor"), str):
            raise ConfigError(f"{path}: model {number} needs a `name` and a `predictor`")
        unknown = set(entry) - {"name", "predictor", "description"}
        if unknown:
            raise ConfigError(f"{path}: model {number} has unknown keys: "
                              f"{', '.join(sorted(unknown))}")
        description = entry.get("description")
        if description is not None and not isinstance(description, str):
            raise ConfigError(f"{path}: model {number}: `description` must be text")
        specs.append(predictor_spec(entry["name"], entry["predictor"],
                                    relative_to=path.parent.resolve(), description=description))
    return tuple(specs)
