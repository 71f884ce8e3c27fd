"""The prediction: the domain object every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replicast.predictions.status import Status

CONTEXT_KEY = "@context"
"""Where ``secrets`` keeps the request's ``context`` (no input can be named so)."""


@dataclass(slots=True)
class Prediction:
    """One run of a model, from creation to its terminal status."""

    id: str
    account_id: int
    model: str
    """``owner/name``."""
    version: str
    """The version id, or ``"hidden"`` for official models."""
    input: dict[str, Any]
    """The input exactly as the client sent it."""
    status: Status
    created_at: datetime
    base_url: str
    """Origin (and ``root_path``) the prediction's URLs are built from."""
    stream_token: str
    """Secret path segment of the prediction's event stream."""
    source: str = "api"
    output: Any = None
    logs: str = ""
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    deadline: datetime | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    data_removed: bool = False
    attempt: int = 0
    """How many times a run has started."""
    worker_id: str | None = None
    """The worker running it (while ``processing``)."""
    lease_until: datetime | None = None
    """Until when that worker's claim holds unless renewed; past it, the run is
    presumed lost and the prediction is run again elsewhere."""
    secrets: dict[str, Any] | None = None
    """The values of Secret inputs, which ``input`` shows masked, and the request's
    ``context`` (under ``CONTEXT_KEY``); deleted when the prediction finishes. Never
    part of what the API returns."""
    upstream_id: str | None = None
    """For a routed model (gateway mode), the prediction's id at the upstream that runs
    it, once created there; whoever runs it next follows that one, never a new one."""
    api_prefix: str = "/v1"
    """The API prefix it was created under (one of ``urls.API_PREFIXES``; ``urls.API``
    by default): its webhooks' and events' API URLs name it; a response names the
    prefix it answers on."""
    previews: int = 0
    """How many previews of its image the run is asked to send as it denoises (OpenAI's
    ``partial_images``); 0 for none. Previews are events only, never stored."""

    def run_input(self) -> dict[str, Any]:
        """The input a model runs with: ``input`` with the secrets put back."""
        if not self.secrets:
            return self.input
        return {**self.input, **{k: v for k, v in self.secrets.items() if k != CONTEXT_KEY}}

    @property
    def context(self) -> dict[str, str]:
        """The ``context`` the request gave (Cog's per-request strings), while it runs."""
        return dict((self.secrets or {}).get(CONTEXT_KEY) or {})

    @property
    def terminal(self) -> bool:
        """Whether the prediction has finished for good."""
        return self.status.terminal
