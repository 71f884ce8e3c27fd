"""Speaking to an upstream Replicate-compatible API: bounded retries, no leaked token.

Requests carry the route's token in their ``Authorization`` header and nowhere else:
nothing here logs a request or its headers, and every error names the upstream by
its base URL only.

Who the upstream may be: the route's base URL is the operator's choice, not a
user's, so reaching it is no request forgery even on a private network: the API's
requests go there, at whatever address its name resolves to, and follow no redirect.
Output URLs to download come from the upstream's answers, which its users' models
shape: those on the base URL's own scheme, host and port are the upstream's own files
(a Replicast upstream serves its outputs there) and are fetched like its API, following
no redirect; any other goes through the guarded client of ``replicast.net``, which
reaches private addresses only with ``REPLICAST_ALLOW_PRIVATE_URLS``, whatever network
the route's base URL is on: a route to a private address opens that one origin, not
its network. Link-local and metadata addresses are never reached.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from replicast import downloads
from replicast.errors import UpstreamError
from replicast.gateway.routing import UpstreamRoute
from replicast.net import PrivateAddressError, guarded_client
from replicast.urls import (
    FILES,
    MODEL,
    MODEL_PREDICTIONS,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_CANCEL,
    PREDICTIONS,
    api_path,
)

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


class UpstreamClient:
    """One route's upstream: its models, predictions and output files."""

    def __init__(self, route: UpstreamRoute, *, allow_private: bool, min_rate: int = 0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.route = route
        self.min_rate = min_rate
        """Bytes a second an output file's download must average (``downloads``)."""
        self._api = guarded_client(allow_private=True, timeout=route.timeout,
                                   follow_redirects=False)
        self._files = guarded_client(allow_private=allow_private, timeout=route.timeout,
                                     follow_redirects=True)
        self._origin = _origin(route.base_url)
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
        response = await self._request("GET", api_path(MODEL, **_names(full_name)))
        if response.status_code == 404:
            return None
        return self._json(response, f"describe {full_name}")

    async def get_version(self, full_name: str, version_id: str) -> dict[str, Any] | None:
        """``GET /v1/models/{owner}/{name}/versions/{id}``; None if the upstream has none."""
        response = await self._request(
            "GET", api_path(MODEL_VERSION, **_names(full_name),
                            version_id=quote(version_id, safe="")))
        if response.status_code == 404:
            return None
        return self._json(response, f"describe {full_name}:{version_id}")

    async def create(self, full_name: str, inputs: dict[str, Any], version: str | None,
                     *, webhook: str | None = None, events: Sequence[str] = (),
                     once: bool = False) -> dict[str, Any]:
        """Create a prediction: by model, or by ``version`` when one is given; with
        ``webhook``, the upstream calls it on ``events``. With ``once``, a single try:
        no waiting on retries (a create request is waiting on this one). What it
        returns always holds the prediction's ``id``."""
        body: dict[str, Any] = {"input": inputs}
        if webhook is not None:
            body["webhook"] = webhook
            body["webhook_events_filter"] = list(events)
        path = api_path(MODEL_PREDICTIONS, **_names(full_name))
        if version is not None:
            path, body["version"] = api_path(PREDICTIONS), version
        response = await self._request("POST", path, body, idempotent=False, once=once)
        if response.status_code < 400:
            try:
                created = self._json(response, "create the prediction")
            except UpstreamError as exc:
                raise UpstreamError(str(exc), unanswered=True) from None
            if not isinstance(created.get("id"), str) or not created["id"]:
                raise UpstreamError(f"The upstream {self.name} answered a create without "
                                    "the prediction's id", unanswered=True)
            return created
        return self._json(response, "create the prediction")

    async def upload(self, name: str, content_type: str, data: bytes, *,
                     once: bool = False) -> str:
        """``POST /v1/files``: the URL (``urls.get``) of a copy of the file upstream, for a
        prediction's input. Tried again like other requests (a duplicate upload costs
        only storage, which expires); with ``once``, a single try."""
        response = await self._request(
            "POST", api_path(FILES), files={"content": (name, data, content_type)},
            form={"filename": name, "type": content_type}, once=once)
        uploaded = self._json(response, f"take the input file {name}")
        urls = uploaded.get("urls")
        url = urls.get("get") if isinstance(urls, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise UpstreamError(f"The upstream {self.name} took the input file {name} but "
                                "gave no URL for it")
        return url

    async def get(self, prediction_id: str) -> dict[str, Any]:
        """``GET /v1/predictions/{id}``."""
        response = await self._request("GET", api_path(PREDICTION, id=quote(prediction_id)))
        return self._json(response, "report on the prediction")

    async def cancel(self, prediction_id: str) -> None:
        """``POST /v1/predictions/{id}/cancel`` (cancel is idempotent upstream)."""
        response = await self._request("POST",
                                       api_path(PREDICTION_CANCEL, id=quote(prediction_id)))
        self._json(response, "cancel the prediction")

    async def download(self, url: str, max_bytes: int) -> bytes:
        """An output file's bytes, retried like the API's requests, at most ``max_bytes``,
        within the route's ``download_timeout`` in all and at ``min_rate``."""
        limits = downloads.Limits(max_bytes, self.route.download_timeout, self.min_rate)
        failure = ""
        try:
            async with downloads.within(limits) as budget:
                for attempt in range(self.route.retries + 1):
                    try:
                        own = _origin(url) == self._origin
                        client = self._api if own else self._files
                        async with client.stream("GET", url) as response:
                            if response.status_code < 300:
                                return await downloads.collect(budget, response)
                            failure = f"HTTP {response.status_code}"
                            if response.status_code < 500 and response.status_code != 429:
                                break
                    except PrivateAddressError as exc:
                        failure = _describe(exc)
                        break  # refused here: no try will be let through
                    except httpx.TransportError as exc:
                        failure = _describe(exc)
                    if attempt < self.route.retries:
                        await self._sleep(backoff(attempt, self.route.backoff))
        except downloads.TooLarge:
            raise UpstreamError(f"The output file {url} is larger than {max_bytes} bytes"
                                ) from None
        except downloads.TooSlow as exc:
            failure = f"the download {exc.reason}"
        raise UpstreamError(f"Could not download the output file {url} from the upstream "
                            f"{self.name}: {failure}")

    async def _request(self, method: str, path: str, body: Any = None, *,
                       idempotent: bool = True, once: bool = False,
                       files: dict[str, Any] | None = None,
                       form: dict[str, str] | None = None) -> httpx.Response:
        """One call, tried again after connection failures, timeouts, 5xx and 429
        (with ``once``, tried once).

        A create that may have reached the upstream (a timeout after sending) is not
        sent again: it could run twice.
        """
        url = f"{self.route.base_url}{path}"
        headers = {"Authorization": f"Bearer {self.route.token}"}
        tries = 1 if once else self.route.retries + 1
        failures = throttled = 0
        while True:
            try:
                response = await self._api.request(method, url, json=body, headers=headers,
                                                   files=files, data=form)
            except httpx.TransportError as exc:
                failure = _describe(exc)
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout
                                      | httpx.PoolTimeout)
                if sent and not idempotent:
                    raise UpstreamError(f"The upstream {self.name} did not answer: {failure}",
                                        unanswered=True) from None
                wait = backoff(failures, self.route.backoff)
                failures += 1
            else:
                status = response.status_code
                if status < 500 and status != 429:
                    return response
                if status == 504 and not idempotent:
                    # A proxy gave up waiting on the upstream, which may have made it.
                    raise UpstreamError(f"The upstream {self.name} did not answer in time "
                                        "(HTTP 504)", unanswered=True)
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
            if failures >= tries or throttled >= (1 if once else max(tries, RATE_LIMITED_TRIES)):
                break
            await self._sleep(min(wait, MAX_WAIT))
        total = failures + throttled
        raise UpstreamError(f"The upstream {self.name} did not answer after {total} "
                            f"{'try' if total == 1 else 'tries'}: {failure}",
                            status=None if throttled < 1 or failures else 429)

    def _json(self, response: httpx.Response, doing: str) -> dict[str, Any]:
        if response.status_code >= 400:
            problem = _problem_body(response)
            raise UpstreamError(f"The upstream {self.name} refused to {doing} "
                                f"(HTTP {response.status_code}): {_problem(problem, response)}",
                                status=response.status_code, problem=problem)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(f"The upstream {self.name} answered with something other "
                                f"than a JSON object when asked to {doing}")
        return data


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` (the port as given, or the scheme's)."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").rstrip(".").lower(), port


def _names(full_name: str) -> dict[str, str]:
    """A model's ``owner`` and ``name``, quoted for a path."""
    owner, _, name = full_name.partition("/")
    return {"owner": quote(owner, safe=""), "name": quote(name, safe="")}


def _describe(exc: httpx.TransportError) -> str:
    """An exception's kind and message: never the request, so never its headers."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _problem_body(response: httpx.Response) -> dict[str, Any] | None:
    """An upstream's error response as a JSON object, if it is one."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _problem(data: dict[str, Any] | None, response: httpx.Response) -> str:
    """The detail of an upstream's problem response, else the start of its text."""
    if data is not None:
        for key in ("detail", "title", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return response.text[:500].strip() or response.reason_phrase
