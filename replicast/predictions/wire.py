"""A prediction as Replicate's API represents it: in responses, webhooks and events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replicast import times
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.urls import PREDICTION, PREDICTION_CANCEL, PREDICTION_PAGE, STREAM, api_url, page_url

if TYPE_CHECKING:
    from replicast.outputs.signing import OutputLinks
    from replicast.predictions.queue import QueuePlace


def urls(prediction: Prediction, prefix: str | None = None) -> dict[str, str]:
    """The prediction's ``urls``: absolute, every value a string; those of the API under
    ``prefix``, by default the one it was created under. The page has one home."""
    base = prediction.base_url
    api = prediction.api_prefix if prefix is None else prefix
    return {
        "cancel": api_url(base, PREDICTION_CANCEL, prefix=api, id=prediction.id),
        "get": api_url(base, PREDICTION, prefix=api, id=prediction.id),
        "stream": api_url(base, STREAM, prefix=api, token=prediction.stream_token),
        "web": page_url(base, PREDICTION_PAGE, id=prediction.id),
    }


def to_json(p: Prediction, *, links: OutputLinks | None, still_starting: bool = False,
            prefix: str | None = None, queue: QueuePlace | None = None) -> dict[str, Any]:
    """A prediction as ``GET /v1/predictions/{id}`` returns it.

    ``still_starting`` presents an unfinished prediction as ``starting`` with no
    output, which is what a timed-out ``Prefer: wait`` returns: the official clients
    keep polling only while the status is ``starting``. ``links`` signs the URLs of
    output files, as they must be to be fetched (None leaves them plain: tests only).
    ``prefix``: the API prefix of the request answered (``urls``). ``queue``: where a
    ``starting`` prediction waits, shown as ``queue`` (a Replicast extension).
    """
    status = Status.STARTING if still_starting and not p.terminal else p.status
    body: dict[str, Any] = {
        "id": p.id,
        "model": p.model,
        "version": p.version,
        "input": p.input,
        "logs": p.logs,
        "output": None if status is Status.STARTING
        else p.output if links is None else links.sign(p.output, p.base_url, p.id),
        "data_removed": p.data_removed,
        "error": p.error,
        "source": p.source,
        "status": status.value,
        "created_at": times.format_rfc3339(p.created_at),
        "urls": urls(p, prefix),
    }
    if p.started_at is not None:
        body["started_at"] = times.format_rfc3339(p.started_at)
    if p.completed_at is not None:
        body["completed_at"] = times.format_rfc3339(p.completed_at)
    if p.terminal:
        body["metrics"] = p.metrics
    if p.deadline is not None:
        body["deadline"] = times.format_rfc3339(p.deadline)
    if queue is not None and status is Status.STARTING:
        body["queue"] = {
            "position": queue.position,
            "estimated_start": None if queue.estimated_start is None
            else times.format_rfc3339(queue.estimated_start),
        }
    if p.webhook is not None:
        body["webhook"] = p.webhook
        body["webhook_events_filter"] = p.webhook_events_filter
    return body
