"""Replicast: a self-hosted server for Replicate's HTTP prediction API.

Predictors can be written against the names exported here, which behave as the
``cog`` package's do (``from replicast import BasePredictor, Input, Path``).
"""

from replicast.predictors.sdk import (
    AsyncConcatenateIterator,
    BaseModel,
    BasePredictor,
    BaseRunner,
    CancelationException,
    ConcatenateIterator,
    File,
    Input,
    Opaque,
    Path,
    Secret,
    current_scope,
    streaming,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncConcatenateIterator",
    "BaseModel",
    "BasePredictor",
    "BaseRunner",
    "CancelationException",
    "ConcatenateIterator",
    "File",
    "Input",
    "Opaque",
    "Path",
    "Secret",
    "__version__",
    "current_scope",
    "streaming",
]
