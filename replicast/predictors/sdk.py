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
import re
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


class _OpaqueMarker:
    """The class of ``Opaque`` (recognised by its name, Cog's marker's too)."""

    def __repr__(self) -> str:
        return "replicast.Opaque"


Opaque = _OpaqueMarker()
"""``Annotated[T, Opaque]``: an input or output that is any JSON object (or a list of
them), passed as it is."""


class ConcatenateIterator(Iterator[T]):
    """Output produced item by item that is meant to be read joined (text tokens)."""


class AsyncConcatenateIterator(AsyncIterator[T]):
    """``ConcatenateIterator`` for async predictors."""


_SEGMENT_CHARACTER = re.compile(r"[A-Za-z0-9_]")
_METRIC_VALUES = (bool, int, float, str, list, dict)


def check_metric_name(key: str) -> None:
    """``ValueError``, worded as Cog words it, unless ``key`` may name a metric: dotted
    segments of letters, digits and single underscores, each starting with a letter and
    ending with a letter or digit; at most 128 characters and 4 segments; not
    ``predict_time`` (the server's own) nor anything under ``cog.``."""
    if not isinstance(key, str) or not key:
        raise ValueError("metric name must not be empty")
    if key == "predict_time":
        raise ValueError("'predict_time' is reserved by the runtime")
    if key.startswith("cog."):
        raise ValueError("the 'cog.' prefix is reserved for system metrics")
    if key.startswith("."):
        raise ValueError("metric name must not start with a dot")
    if key.endswith("."):
        raise ValueError("metric name must not end with a dot")
    if ".." in key:
        raise ValueError("metric name must not contain empty segments (consecutive dots)")
    if len(key) > 128:
        raise ValueError(f"metric name must be 128 characters or fewer (got {len(key)} "
                         "characters)")
    segments = key.split(".")
    if len(segments) > 4:
        raise ValueError(f"metric name must have at most 4 dot-separated segments "
                         f"(got {len(segments)})")
    for segment in segments:
        for character in segment:
            if not _SEGMENT_CHARACTER.fullmatch(character):
                raise ValueError(f"metric name segment '{segment}' contains invalid "
                                 f"character '{character}'")
        if not segment[0].isascii() or not segment[0].isalpha():
            raise ValueError(f"metric name segment '{segment}' must start with a letter")
        if not segment[-1].isalnum():
            raise ValueError(f"metric name segment '{segment}' must end with a letter or digit")
        if "__" in segment:
            raise ValueError(f"metric name segment '{segment}' must not contain consecutive "
                             "underscores")


class Metrics(dict[str, Any]):
    """A prediction's metrics: a dict, with Cog's ``record`` and ``delete`` as well."""

    def __setitem__(self, key: str, value: Any) -> None:
        self.record(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def delete(self, key: str) -> None:
        """Remove a metric (nothing if there is none)."""
        self.record(key, None)

    def record(self, key: str, value: Any, mode: str = "replace") -> None:
        """Set (``replace``), add to (``incr``) or extend (``append``) a metric.

        A dotted key nests: ``record("timing.vae", 0.2)`` sets ``{"timing": {"vae": 0.2}}``.
        A value of None removes the metric. A name Cog refuses (``check_metric_name``),
        a value that is not a bool, number, string, list or dict, or an ``incr`` of
        something that is not a number raises ``ValueError``, which fails the prediction
        unless caught.
        """
        if mode not in ("replace", "incr", "append"):
            raise ValueError(f"mode must be replace, incr or append, not {mode!r}")
        check_metric_name(key)
        if value is not None and not isinstance(value, _METRIC_VALUES):
            raise ValueError(f"metric {key!r}: the value must be bool, int, float, str, list "
                             f"or dict, not {type(value).__name__}")
        if mode == "incr" and value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"metric {key!r}: incr needs a number, not {type(value).__name__}")
        *parents, leaf = key.split(".")
        where: dict[str, Any] = self
        for part in parents:
            child = where.get(part)
            if not isinstance(child, dict):
                if value is None:
                    return
                child = {}
                dict.__setitem__(where, part, child)  # not Metrics.__setitem__
            where = child
        if value is None:
            where.pop(leaf, None)
        elif mode == "incr":
            dict.__setitem__(where, leaf, where.get(leaf, 0) + value)
        elif mode == "append":
            current = where.get(leaf)
            if isinstance(current, list):
                current.append(value)
            else:
                dict.__setitem__(where, leaf, [value] if current is None else [current, value])
        else:
            dict.__setitem__(where, leaf, value)


class Scope:
    """The running prediction's scope: its request's ``context`` and its metrics."""

    def __init__(self, context: dict[str, str] | None = None) -> None:
        self.context: dict[str, str] = dict(context or {})
        """The strings the create request gave as ``context`` (empty if none)."""
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


def enter_scope(context: dict[str, str] | None = None) -> Scope:
    """Start a new scope for the prediction about to run in this context."""
    scope = Scope(context)
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
