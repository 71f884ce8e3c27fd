"""What model authors write against: Cog's predictor API, without needing Cog.

``BasePredictor``/``BaseRunner`` with ``setup()`` and ``predict()``/``run()``,
``Input(...)`` for constraints, and the types ``Path``, ``File``, ``Secret``,
``ConcatenateIterator``. A predictor written for the ``cog`` package runs unchanged;
so does one that imports these names from ``replicast`` instead.
"""

from __future__ import annotations

import contextvars
import io
import pathlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class CancelationException(BaseException):
    """Raised inside a running prediction when it is canceled.

    A ``BaseException``, so that ``except Exception`` in a model does not swallow it.
    """


@dataclass(frozen=True)
class FieldInfo:
    """An input's constraints and metadata, as ``Input()`` records them."""

    default: Any = None
    description: str | None = None
    ge: int | float | None = None
    le: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    choices: list[str | int] | None = None
    deprecated: bool | None = None
    accept: str | None = None


def Input(
    default: Any = None, *, description: str | None = None, ge: float | None = None,
    le: float | None = None, min_length: int | None = None, max_length: int | None = None,
    regex: str | None = None, choices: list[str | int] | None = None,
    deprecated: bool | None = None, accept: str | None = None,
) -> Any:
    """Declare a predictor input: its default (none: required) and its constraints."""
    return FieldInfo(default, description, ge, le, min_length, max_length, regex, choices,
                     deprecated, accept)


class Path(pathlib.PosixPath):
    """A file: given as a URL or data URI, handed to ``predict`` as a local path; returned,
    it becomes an output file with a URL."""


class File(io.IOBase):
    """A file given to ``predict`` as an open binary file object (Cog's older form)."""


class Secret:
    """A string input that is never shown: ``get_secret_value()`` returns it."""

    def __init__(self, value: str | None = None) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "Secret(**********)"

    def __str__(self) -> str:
        return "**********"

    def get_secret_value(self) -> str | None:
        return self._value


class ConcatenateIterator(Iterator[T]):
    """Output produced item by item that is meant to be read joined (text tokens)."""


class AsyncConcatenateIterator(AsyncIterator[T]):
    """``ConcatenateIterator`` for async predictors."""


class Metrics(dict[str, Any]):
    """A prediction's metrics: a dict, with Cog's ``record`` as well."""

    def record(self, key: str, value: Any, mode: str = "replace") -> None:
        """Set (``replace``), add to (``incr``) or extend (``append``) a metric.

        A dotted key nests: ``record("timing.vae", 0.2)`` sets ``{"timing": {"vae": 0.2}}``.
        A value of None removes the metric.
        """
        if mode not in ("replace", "incr", "append"):
            raise ValueError(f"mode must be replace, incr or append, not {mode!r}")
        *parents, leaf = key.split(".")
        where: dict[str, Any] = self
        for part in parents:
            child = where.get(part)
            if not isinstance(child, dict):
                if value is None:
                    return
                child = where[part] = {}
            where = child
        if value is None:
            where.pop(leaf, None)
        elif mode == "incr":
            where[leaf] = where.get(leaf, 0) + value
        elif mode == "append":
            current = where.get(leaf)
            if isinstance(current, list):
                current.append(value)
            else:
                where[leaf] = [value] if current is None else [current, value]
        else:
            where[leaf] = value


class Scope:
    """The running prediction's scope: where metrics are recorded."""

    def __init__(self) -> None:
        self.metrics = Metrics()

    def record_metric(self, key: str, value: Any, mode: str = "replace") -> None:
        """Set (``replace``), add to (``incr``) or extend (``append``) a metric."""
        self.metrics.record(key, value, mode)


_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar("replicast_scope")


def current_scope() -> Scope:
    """The scope of the prediction running here (a throwaway one outside any)."""
    try:
        return _scope.get()
    except LookupError:
        return Scope()


def enter_scope() -> Scope:
    """Start a new scope for the prediction about to run in this context."""
    scope = Scope()
    _scope.set(scope)
    return scope


class BaseModel:
    """Base of structured outputs: each subclass becomes a dataclass, as in Cog."""

    def __init_subclass__(cls, *, auto_dataclass: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__()
        if auto_dataclass:
            dataclass(cls, **kwargs)


def streaming(function: T) -> T:
    """Cog's marker for predictors whose output may be streamed; every iterator is here."""
    return function


class BaseRunner:
    """Subclass and define ``setup()`` (optional) and ``run()`` (or ``predict()``)."""

    def setup(self) -> None:
        """Load what ``run`` needs; called once before the first prediction."""

    @property
    def scope(self) -> Scope:
        return current_scope()

    def record_metric(self, key: str, value: Any, mode: str = "replace") -> None:
        """Record a metric of the running prediction (shown in its ``metrics``)."""
        current_scope().record_metric(key, value, mode)


class BasePredictor(BaseRunner):
    """Cog's older name for ``BaseRunner``: subclass and define ``predict()``."""
