"""Logging: readable lines by default, JSON for machines, the prediction on every line.

``prediction_context(id)`` marks everything logged while it is open (in this task
and the tasks it starts) with that prediction's id, so that one grep finds every
line about a prediction across API replicas and workers.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

_prediction: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "replicast_prediction", default=None)
# Secrets that may ride in a URL or a message: API tokens, the tokens of event stream
# URLs, the signatures of output and file download URLs, and the MACs of gateway hook
# URLs. No route takes a token in a query string, but clients put one there anyway, of
# any shape (an operator's token need not start with r8_): the value of any query
# parameter named like a credential goes, also in a URL that is itself a parameter's
# value (a sign-in page's ``next``), its separators percent-encoded.
_CREDENTIAL = r"[\w.\-]*(?:token|key|secret|signature|sig|password|passwd|auth|session|jwt)"
_SECRETS = re.compile(
    r"(?P<keep>r8_|/streams/|/outputs/[0-9]{1,12}\.|/gateway/hooks/\w+\.)"
    r"[A-Za-z0-9_\-%~+=]{4,}"
    rf"|(?P<query>(?:[?&;]|%3F|%26){_CREDENTIAL}[\w.\-]*(?:=|%3D))[^&;\s\"'#\\]+"
    r"|(?P<scheme>(?:Bearer|Token) )[A-Za-z0-9_\-%.~+/=]{16,}", re.IGNORECASE)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextlib.contextmanager
def prediction_context(prediction_id: str) -> Iterator[None]:
    """Tag log lines with ``prediction_id`` while the block runs."""
    token = _prediction.set(prediction_id)
    try:
        yield
    finally:
        _prediction.reset(token)


def tag(prediction_id: str) -> None:
    """Tag the rest of this task's log lines (a request's) with ``prediction_id``."""
    _prediction.set(prediction_id)


def current_prediction() -> str | None:
    """The prediction the running code works on, if any."""
    return _prediction.get()


class _Tagger(logging.Filter):
    def __init__(self, process: dict[str, str]) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "prediction_id"):
            record.prediction_id = _prediction.get()
        for key, value in self.process.items():
            setattr(record, key, value)
        return True


def redact(text: str) -> str:
    """``text`` with every secret it holds cut down to its kind."""
    return _SECRETS.sub(lambda m: f"{m['keep'] or m['scheme'] or m['query']}[redacted]", text)


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(body, default=str).decode())


class TextFormatter(logging.Formatter):
    """``time level logger [prediction]: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prediction_id = getattr(record, "prediction_id", None)
        record.tag = f" [{prediction_id}]" if prediction_id else ""
        return redact(super().format(record))


def configure(level: str, fmt: str, **process: str) -> None:
    """Send every log record to stderr as ``fmt`` (text or json); ``process`` fields
    (a worker's id, say) go on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_Tagger(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's loggers keep their own handlers unless told otherwise.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
