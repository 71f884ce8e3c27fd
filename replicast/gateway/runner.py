"""Running a routed prediction upstream: create it there, follow it, mirror it here.

The prediction stays a Replicast prediction (its own id, URLs, webhooks and stream);
the upstream's logs, output, metrics and errors are copied onto it as they come.
Output files (those the model's output schema declares, see ``outputs``) are
downloaded and stored here unless the route says otherwise, so their URLs stay under
this server and outlive the upstream's retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from replicast.errors import ModelError, StoreError, UpstreamError, UpstreamRefused
from replicast.gateway.client import UpstreamClient
from replicast.gateway.hooks import EVENTS, HookSigner
from replicast.gateway.outputs import DeclaredFiles
from replicast.models.base import OwnFiles, RunContext, Runner
from replicast.models.schema_refs import input_properties

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 2 * 1024**3
"""Largest output file copied from an upstream."""
CANCEL_GRACE = 4.0
"""Seconds given to telling the upstream of a cancel (the worker waits 5 for the run)."""
_POLL_GROWTH = 1.5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class _Followed:
    id: str | None = None
    """The prediction's id upstream, once known."""
    ended: bool = False
    """Whether the upstream ended it (canceled there): nothing to forward."""


@dataclass(slots=True)
class _Seen:
    logs: int = 0
    items: int = 0


class UpstreamRunner(Runner):
    """Runs one routed model's predictions on its upstream."""

    served_by = "upstream"
    hands_on = True

    def __init__(self, client: UpstreamClient, full_name: str,
                 openapi_schema: Mapping[str, Any], *, version: str | None = None,
                 hooks: HookSigner | None = None) -> None:
        self._client = client
        self._hooks = hooks
        self._files = DeclaredFiles(openapi_schema)
        self._none_by_default = frozenset(
            name for name, prop in input_properties(openapi_schema).items()
            if prop.get("nullable") and prop.get("default") is None)
        """Nullable inputs that are None when left out: sent left out, not as null."""
        self.full_name = full_name
        self.version = version
        """The upstream version id to create by (models not official upstream need one)."""
        self.concurrency = client.route.concurrency

    async def submit(self, prediction_id: str, inputs: dict[str, Any],
                     own_files: OwnFiles) -> str | None:
        """Create the prediction upstream while the caller's create request waits, once:
        a refusal (a 4xx) is the create's answer; an upstream down, busy (429) or failing
        (5xx) leaves the create to the run, which retries with backoff. Files uploaded
        here that the input names are uploaded there first."""
        try:
            relayed = await self._relay(inputs, own_files, once=True)
            created = await self._client.create(
                self.full_name, relayed, self.version, webhook=self._webhook(prediction_id),
                events=EVENTS, once=True)
        except UpstreamError as exc:
            if exc.unanswered:
                raise  # it may exist upstream: never create it twice
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise _refusal(exc, self._client.name) from None
            log.info("%s is created at %s when it runs: %s", prediction_id,
                     self._client.name, exc)
            return None
        upstream_id = str(created["id"])
        log.info("%s runs upstream at %s as %s", self.full_name, self._client.name, upstream_id)
        return upstream_id

    async def withdraw(self, upstream_id: str) -> None:
        await self._forward_cancel(upstream_id)

    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        followed = _Followed()
        try:
            if context.upstream_id is None:
                prediction = await self._create(context, inputs, followed)
            else:
                followed.id = context.upstream_id
                log.info("%s follows %s at %s", context.prediction_id, followed.id,
                         self._client.name)
                prediction = await self._client.get(followed.id)
            return await self._follow(context, prediction, followed)
        except asyncio.CancelledError:
            # Stopped for a restart, it runs on upstream, to be followed again.
            if followed.id is not None and not followed.ended and not context.interrupted:
                await self._forward_cancel(followed.id)
            raise

    async def _create(self, context: RunContext, inputs: dict[str, Any],
                      followed: _Followed) -> dict[str, Any]:
        relayed = await self._relay(inputs, context.own_file)
        creating = asyncio.ensure_future(self._client.create(
            self.full_name, relayed, self.version,
            webhook=self._webhook(context.prediction_id), events=EVENTS))
        try:
            created = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Stopped while creating: once the create lands, cancel it upstream, or,
            # stopped for a restart, keep its id for the run that follows it next.
            with contextlib.suppress(Exception):
                landed = str((await asyncio.wait_for(creating, CANCEL_GRACE))["id"])
                if context.interrupted:
                    followed.id = landed
                    await context.remember_upstream(landed)
                else:
                    await self._forward_cancel(landed)
            raise
        followed.id = str(created["id"])
        log.info("%s runs upstream at %s as %s", self.full_name, self._client.name, followed.id)
        try:
            await context.remember_upstream(followed.id)
        except StoreError as exc:  # only a restarted run needs it: follow on regardless
            log.warning("could not keep the upstream id of %s: %s", context.prediction_id, exc)
        return created

    async def _relay(self, inputs: dict[str, Any], own_files: OwnFiles, *,
                     once: bool = False) -> dict[str, Any]:
        """``inputs`` with every URL of a file uploaded here replaced by the URL of a copy
        uploaded to the upstream, which cannot read this server's files."""
        copies: dict[str, str] = {}
        # A None here for an input that is None when left out (filled in by this server's
        # validation, say) is left out there: a Cog server refuses an explicit null.
        inputs = {name: value for name, value in inputs.items()
                  if value is not None or name not in self._none_by_default}

        async def walk(value: Any) -> Any:
            if _is_url(value):
                if value not in copies:
                    own = await own_files(value)
                    copies[value] = value if own is None else await self._client.upload(
                        own.name, own.content_type, own.data, once=once)
                return copies[value]
            if isinstance(value, list):
                return [await walk(item) for item in value]
            if isinstance(value, dict):
                return {key: await walk(item) for key, item in value.items()}
            return value

        relayed: dict[str, Any] = await walk(inputs)
        return relayed

    def _webhook(self, prediction_id: str) -> str | None:
        return None if self._hooks is None else self._hooks.url(self._client.route,
                                                                 prediction_id)

    async def _follow(self, context: RunContext, prediction: dict[str, Any],
                      followed: _Followed) -> Any:
        seen = _Seen()
        interval = self._client.route.poll_interval
        while True:
            await self._mirror(context, prediction, seen)
            status = prediction.get("status")
            if status == "succeeded":
                _record_metrics(context, prediction.get("metrics"))
                output = prediction.get("output")
                return await self._copy(context, output) if self._copying else output
            if status == "failed":
                _record_metrics(context, prediction.get("metrics"))
                error = prediction.get("error")
                raise ModelError(str(error) if error else
                                 f"The prediction failed at the upstream {self._client.name}")
            if status in {"canceled", "aborted"}:
                followed.ended = True
                raise asyncio.CancelledError()
            # An upstream webhook (see ``hooks``) wakes this at once; polling, backing
            # off, is the fallback for an upstream whose webhooks never come.
            if not await context.wait_nudge(interval):
                interval = min(self._client.route.max_poll_interval, interval * _POLL_GROWTH)
            assert followed.id is not None
            prediction = await self._client.get(followed.id)

    @property
    def _copying(self) -> bool:
        return self._client.route.copy_outputs

    async def _mirror(self, context: RunContext, prediction: dict[str, Any],
                      seen: _Seen) -> None:
        """Pass on the logs, and the items of an output still being made, that are new."""
        logs = prediction.get("logs")
        if isinstance(logs, str) and len(logs) > seen.logs:
            context.log(logs[seen.logs:])
            seen.logs = len(logs)
        output = prediction.get("output")
        if prediction.get("status") == "processing" and isinstance(output, list):
            new = output[seen.items:]
            # Files are copied once, at the end; text streams on.
            if new and not (self._copying and self._files.items_hold_files(new)):
                for item in new:
                    await context.emit(item)
                seen.items = len(output)

    async def _copy(self, context: RunContext, output: Any) -> Any:
        """``output`` with every file URL its schema declares replaced by the URL of a
        copy stored here (a URL named twice is copied once)."""
        names: set[str] = set()
        copies: dict[str, str] = {}
        for url in self._files.urls(output):
            data = await self._client.download(url, MAX_OUTPUT_BYTES)
            copies[url] = await context.save_file(_file_name(url, names), data)
        return self._files.replace(output, copies)

    async def _forward_cancel(self, upstream_id: str) -> None:
        try:
            await asyncio.wait_for(self._client.cancel(upstream_id), CANCEL_GRACE)
        except (UpstreamError, TimeoutError) as exc:
            log.warning("could not cancel %s at the upstream %s: %s", upstream_id,
                        self._client.name, exc)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _file_name(url: str, taken: set[str]) -> str:
    """A safe file name from the URL's last path segment, unique in this output."""
    raw = unquote(PurePosixPath(urlsplit(url).path).name)
    name = _UNSAFE.sub("-", raw).strip(".-") or "output"
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot and stem else (name, "")
    candidate, n = name, 1
    while candidate in taken:
        candidate = f"{stem}-{n}{suffix}"
        n += 1
    taken.add(candidate)
    return candidate


def _refusal(exc: UpstreamError, upstream: str) -> UpstreamRefused:
    """An upstream's 4xx answer to a create, as the gateway's answer to its caller."""
    status = exc.status or 502
    if status in {401, 402, 403, 407}:
        # The gateway's own token (or its account's credit) was refused: nothing the
        # caller did or can fix.
        return UpstreamRefused(f"The upstream {upstream} refused this server's credentials "
                               f"or account (HTTP {status}); tell the server's operator",
                               status=502)
    problem = exc.problem or {}
    detail, title = problem.get("detail"), problem.get("title")
    fields = problem.get("invalid_fields")
    return UpstreamRefused(
        detail if isinstance(detail, str) and detail else str(exc), status=status,
        title=title if isinstance(title, str) and title else None,
        fields=[f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else None)


def _record_metrics(context: RunContext, metrics: Any) -> None:
    if isinstance(metrics, dict):
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and name != "total_time":
                context.record_metric(name, value)
