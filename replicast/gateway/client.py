"""Speaking to an upstream Replicate-compatible API: bounded retries, no leaked token.

Requests carry the route's token in their ``Authorization`` header and nowhere else:
nothing here logs a request or its headers, and every error names the upstream by
its base URL only.

Who the upstream may be: the route's base URL is the operator's choice, not a
user's, so reaching it is no request forgery even on a private network; but the
output URLs to download come from the upstream's answers. Both go through the guarded
client of ``replicast.net``, which reaches private addresses only with
``REPLICAST_ALLOW_PRIVATE_URLS``, or when the route's own base URL is private (then
the upstream lives on that network and its output URLs point there too).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from replicast.errors import UpstreamError
from replicast.gateway.routes import Route
from replicast.net import guarded_client, obviously_private

MAX_WAIT = 60.0
"""Most seconds one retry waits, whatever an upstream's ``Retry-After`` asks."""


RATE_LIMITED_TRIES = 10
"""Tries a request gets while the upstream answers 429 (each after its ``Retry-After``)."""


def backoff(attempt: int, base: float, cap: float = MAX_WAIT) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first): doubling, capped."""
    return min(cap, base * 2.0 ** attempt)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_private_route(route: Route) -> bool:
    """Whether the route's base URL is itself on a private network (or loopback)."""
    return obviously_private(urlsplit(route.base_url).hostname or "")


class UpstreamClient:
    """One route's upstream: its models, predictions and output files."""

    def __init__(self, route: Route, *, allow_private: bool,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.route = route
        private = allow_private or is_private_route(route)
        self._api = guarded_client(allow_private=private, timeout=route.timeout,
                                   follow_redirects=False)
        self._files = guarded_client(allow_private=private, timeout=route.timeout,
                                     follow_redirects=True)
        self._sleep = sleep

    @property
    def name(self) -> str:
        """How errors and logs name the upstream: its base URL."""
        return self.route.base_url

    async def close(self) -> None:
        """Close the connections."""
        await self._api.aclose()
        await self._files.aclose()

    async def get_model(self, full_name: str) -> dict[str, Any] | None:
        """``GET /v1/models/{owner}/{name}``; None if the upstream has no such model."""
        response = await self._request("GET", f"/v1/models/{_path(full_name)}")
        if response.status_code == 404:
            return None
        return self._json(response, f"describe {full_name}")

    async def create(self, full_name: str, inputs: dict[str, Any], version: str | None,
                     *, webhook: str | None = None,
                     events: Sequence[str] = ()) -> dict[str, Any]:
        """Create a prediction: by model, or by ``version`` when one is given; with
        ``webhook``, the upstream calls it on ``events``."""
        body: dict[str, Any] = {"input": inputs}
        if webhook is not None:
            body["webhook"] = webhook
            body["webhook_events_filter"] = list(events)
        path = f"/v1/models/{_path(full_name)}/predictions"
        if version is not None:
            path, body["version"] = "/v1/predictions", version
        response = await self._request("POST", path, body, idempotent=False)
        return self._json(response, "create the prediction")

    async def get(self, prediction_id: str) -> dict[str, Any]:
        """``GET /v1/predictions/{id}``."""
        response = await self._request("GET", f"/v1/predictions/{quote(prediction_id)}")
        return self._json(response, "report on the prediction")

    async def cancel(self, prediction_id: str) -> None:
        """``POST /v1/predictions/{id}/cancel`` (cancel is idempotent upstream)."""
        response = await self._request("POST", f"/v1/predictions/{quote(prediction_id)}/cancel")
        self._json(response, "cancel the prediction")

    async def download(self, url: str, max_bytes: int) -> bytes:
        """An output file's bytes, retried like the API's requests, at most ``max_bytes``."""
        failure = ""
        for attempt in range(self.route.retries + 1):
            try:
                async with self._files.stream("GET", url) as response:
                    if response.status_code < 400:
                        return await _read_limited(response, max_bytes, url)
                    failure = f"HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code != 429:
                        break
            except httpx.TransportError as exc:
                failure = _describe(exc)
            if attempt < self.route.retries:
                await self._sleep(backoff(attempt, self.route.backoff))
        raise UpstreamError(f"Could not download the output file {url} from the upstream "
                            f"{self.name}: {failure}")

    async def _request(self, method: str, path: str, body: Any = None, *,
                       idempotent: bool = True) -> httpx.Response:
        """One call, tried again after connection failures, timeouts, 5xx and 429.

        A create that may have reached the upstream (a timeout after sending) is not
        sent again: it could run twice.
        """
        url = f"{self.route.base_url}{path}"
        headers = {"Authorization": f"Bearer {self.route.token}"}
        tries = self.route.retries + 1
        failures = throttled = 0
        while True:
            try:
                response = await self._api.request(method, url, json=body, headers=headers)
            except httpx.TransportError as exc:
                failure = _describe(exc)
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and not idempotent:
                    raise UpstreamError(f"The upstream {self.name} did not answer: {failure}"
                                        ) from None
                wait = backoff(failures, self.route.backoff)
                failures += 1
            else:
                status = response.status_code
                if status < 500 and status != 429:
                    return response
                asked = retry_after(response.headers.get("retry-after"))
                if status == 429:
                    # Throttling is the upstream working as meant: it gets tries of its own.
                    failure = "rate limited (HTTP 429)"
                    wait = asked or backoff(throttled, self.route.backoff)
                    throttled += 1
                else:
                    failure = f"HTTP {status}"
                    wait = asked or backoff(failures, self.route.backoff)
                    failures += 1
            if failures >= tries or throttled >= max(tries, RATE_LIMITED_TRIES):
                break
            await self._sleep(min(wait, MAX_WAIT))
        total = failures + throttled
        raise UpstreamError(f"The upstream {self.name} did not answer after {total} "
                            f"{'try' if total == 1 else 'tries'}: {failure}")

    def _json(self, response: httpx.Response, doing: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise UpstreamError(f"The upstream {self.name} refused to {doing} "
                                f"(HTTP {response.status_code}): {_problem(response)}",
                                status=response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(f"The upstream {self.name} answered with something other "
                                f"than a JSON object when asked to {doing}")
        return data


def _path(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"


def _describe(exc: httpx.TransportError) -> str:
    """An exception's kind and message: never the request, so never its headers."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _problem(response: httpx.Response) -> str:
    """The detail of an upstream's problem response, else the start of its text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "title", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return response.text[:500].strip() or response.reason_phrase


async def _read_limited(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamError(f"The output file {url} is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
