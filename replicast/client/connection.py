"""Talking to a Replicast server over HTTP, the way the official clients do.

Every failure comes out as ``ClientError``: one line that says what went wrong and,
where there is one, what to do about it. httpx's errors and the server's problem
responses are translated here and nowhere else.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from replicast import __version__, urls
from replicast.client.events import StreamEvent, parse_events
from replicast.errors import ReplicastError

TOKEN_VARIABLE = "REPLICATE_API_TOKEN"
SERVER_VARIABLE = "REPLICATE_BASE_URL"
# The stream sends a keep-alive every 15 s: a longer silence means it is lost.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=45.0)
REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class ClientError(ReplicastError):
    """A command could not do what it was asked; the message is for a person."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def api_base(server: str) -> str:
    """The URL API paths follow: a server root, ``<root>/replicate``, or either
    with ``/v1`` already on it."""
    url = server.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"{server!r} is not a server URL: it must start with http:// or "
                          "https://", exit_code=2)
    return url.removesuffix(urls.API) + urls.API


class Connection:
    """A server's API, with a token; ``close`` (or ``with``) releases its connections."""

    def __init__(self, server: str, token: str | None, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/")
        self.api = api_base(server)
        self.token = token
        agent = {"User-Agent": f"replicast/{__version__}"}
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers={**agent, **auth}, timeout=REQUEST_TIMEOUT,
                                  transport=transport)
        # Output files and streams need no token: it stays off URLs the server signed,
        # which may point at another host (REPLICAST_PUBLIC_URL).
        self._open = httpx.Client(headers=agent, timeout=REQUEST_TIMEOUT, transport=transport)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._open.close()

    # the API

    def model_schema(self, owner: str, name: str, version: str | None = None) -> dict[str, Any]:
        """The OpenAPI document of a model's version (its latest when none is named)."""
        what = f"Model {owner}/{name}" + (f":{version}" if version else "")
        if version:
            found = self.request("GET", f"/models/{owner}/{name}/versions/{version}", what=what)
        else:
            found = (self.request("GET", f"/models/{owner}/{name}", what=what)
                     .get("latest_version") or {})
        schema = found.get("openapi_schema")
        return schema if isinstance(schema, dict) else {}

    def upload(self, path: Path) -> str:
        """Upload a local file with the Files API; the URL to put in an input."""
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            with path.open("rb") as handle:
                created = self.request("POST", "/files", what=f"Uploading {path}",
                                       files={"content": (path.name, handle, kind)})
        except OSError as exc:
            raise ClientError(f"Cannot read {path}: {exc.strerror}") from None
        url: str = created["urls"]["get"]
        return url

    def create(self, model: str, version: str | None, inputs: Mapping[str, Any], *,
               cancel_after: str | None = None) -> dict[str, Any]:
        """Create a prediction of ``owner/name``, or of one of its versions."""
        headers = {"Cancel-After": cancel_after} if cancel_after else {}
        if version:
            return self.request("POST", "/predictions", what=f"Model {model}:{version}",
                                json={"version": f"{model}:{version}", "input": inputs},
                                headers=headers)
        return self.request("POST", f"/models/{model}/predictions", what=f"Model {model}",
                            json={"input": inputs}, headers=headers)

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        return self.request("GET", f"/predictions/{prediction_id}",
                            what=f"Prediction {prediction_id}")

    def cancel(self, prediction_id: str) -> dict[str, Any]:
        return self.request("POST", f"/predictions/{prediction_id}/cancel",
                            what=f"Prediction {prediction_id}")

    def predictions(self, limit: int) -> Iterator[dict[str, Any]]:
        """The account's predictions, newest first, following the cursor up to ``limit``."""
        url: str | None = "/predictions"
        count = 0
        while url and count < limit:
            page = self.request("GET", url, what="The predictions")
            for prediction in page.get("results", []):
                if count >= limit:
                    return
                count += 1
                yield prediction
            url = page.get("next")

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """Send a request to an API path (or an absolute URL); the JSON object it
        answers, or a ``ClientError`` saying why not."""
        url = path if path.startswith(("http://", "https://")) else self.api + path
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.is_error:
            raise refusal(response, what=what, server=self.server,
                          had_token=self.token is not None)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ClientError(f"{self.server} answered {method} {url} with something that "
                              "is not a JSON object; is it a Replicast server?")
        return answer

    # streams and files

    @contextlib.contextmanager
    def events(self, url: str, last_event_id: str | None = None
               ) -> Iterator[Iterator[StreamEvent]]:
        """A prediction's event stream; ``httpx.HTTPError`` if it cannot be followed."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with self._open.stream("GET", url, headers=headers, timeout=STREAM_TIMEOUT) as response:
            response.raise_for_status()
            yield parse_events(response.iter_text())

    def download(self, url: str, handle: IO[bytes]) -> None:
        """Write an output file's bytes to ``handle``."""
        try:
            with self._open.stream("GET", url) as response:
                if response.is_error:
                    raise ClientError(f"Cannot download {url}: the server answered "
                                      f"{response.status_code}")
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        except httpx.TransportError as exc:
            raise ClientError(f"Cannot download {url}: {_reason(exc)}") from None

    def unreachable(self, exc: httpx.TransportError) -> ClientError:
        return ClientError(f"Cannot reach a server at {self.server}: {_reason(exc)}. Is it "
                           f"running? (`replicast serve` starts one)")


def refusal(response: httpx.Response, *, what: str, server: str, had_token: bool
            ) -> ClientError:
    """A problem response as one line."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    status = response.status_code
    if status == 401:
        if not had_token:
            return ClientError(f"{server} needs an API token: set {TOKEN_VARIABLE} or pass "
                               "--token")
        return ClientError(f"{server} refused the API token ({detail}): set {TOKEN_VARIABLE} "
                           "or --token to a valid one (`replicast keys create` makes one)")
    if status == 404:
        return ClientError(f"{what} was not found on {server}")
    if status == 422 and problem.get("invalid_fields"):
        fields = "; ".join(f"{field.get('field') or 'input'}: {field.get('description')}"
                           for field in problem["invalid_fields"] if isinstance(field, dict))
        return ClientError(f"{server} refused the request: {fields}")
    if status == 429:
        wait = response.headers.get("Retry-After")
        if wait:
            return ClientError(f"{server} is rate limiting this token: retry in {wait} s")
        return ClientError(f"{server} refused for now: {detail}")
    return ClientError(f"{server} answered {status}: {detail}")


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    return str(exc) or type(exc).__name__


def remote(server: str | None, token: str | None,
           env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """The server to use and its token: the flags, else ``REPLICATE_BASE_URL`` and
    ``REPLICATE_API_TOKEN`` as the official clients read them. No server: run locally."""
    env = os.environ if env is None else env
    server = server or env.get(SERVER_VARIABLE) or None
    token = token or env.get(TOKEN_VARIABLE) or None
    return server, token
