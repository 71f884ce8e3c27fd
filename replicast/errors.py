"""Replicast's exceptions, in one hierarchy.

    ReplicastError
    ├── ConfigError              a setting is missing or malformed
    ├── StoreError               the store failed or holds something unexpected
    │   └── StoreUnavailable     the database does not answer, or takes no writes, for now
    │       ├── DiskFull         the disk under the database or the data folder is full
    │       └── StorageUnavailable the bucket that keeps the files does not answer, or refuses
    ├── BrokerError              the broker cannot be reached
    ├── RequestError             the client asked for something that cannot be done
    │   ├── Unauthenticated      no token, or a token that is not valid
    │   ├── NotFound             unknown prediction, model, route or file
    │   ├── Forbidden            a page's form from another site, or without its CSRF token
    │   ├── InvalidVersion       a version that does not exist
    │   ├── InvalidRequest       a body, header or query that breaks the API's rules
    │   │   └── InvalidInput     input that fails the model's schema
    │   ├── MalformedBody        a body that is not JSON at all
    │   ├── Throttled            over a rate limit, or too many predictions unfinished
    │   ├── Unavailable          a routed model's upstream does not answer (gateway mode)
    │   ├── UpstreamRefused      a routed model's upstream refused the create (gateway mode)
    │   ├── UnsupportedMediaType a body of a kind the route does not take
    │   └── BodyTooLarge         a body over the size limit
    │       └── FileTooLarge     an uploaded file over the size limit
    ├── IllegalTransition        a status change the state machine forbids
    └── ModelError               a model failed; its message becomes the prediction's error
        └── UpstreamError        a routed model's upstream failed or refused the prediction

The HTTP layer maps each ``RequestError`` to a problem response in one table
(``replicast.http.problems``); nothing below the API knows about status codes.
"""

from __future__ import annotations

from dataclasses import dataclass


class ReplicastError(Exception):
    """Root of every error Replicast raises on purpose."""


class ConfigError(ReplicastError):
    """A setting is missing or malformed; the message names the variable."""


class StoreError(ReplicastError):
    """The store failed or returned something it should not have."""


class StoreUnavailable(StoreError):
    """The database does not answer, or cannot take writes, for now: trying again later
    can succeed. The store logs each outage once, when it begins and when it ends."""


class DiskFull(StoreUnavailable):
    """The disk that holds the database, or the data folder's files, is full."""


class StorageUnavailable(StoreUnavailable):
    """The bucket that keeps output files and uploads (REPLICAST_STORAGE_URL) does not
    answer, or refuses what was asked; the message names the operation and the object.
    The bucket logs each such failure."""


class RequestError(ReplicastError):
    """The client asked for something that cannot be done."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(RequestError):
    """No token was given, or the token is not valid."""


class NotFound(RequestError):
    """The resource does not exist or belongs to another account."""

    def __init__(self, detail: str = "The requested resource could not be found.") -> None:
        super().__init__(detail)


class Forbidden(RequestError):
    """A web page's form was posted from another site, or without its session's CSRF token."""


class InvalidVersion(RequestError):
    """The version named in a create request does not exist."""

    def __init__(
        self,
        detail: str = (
            "The specified version does not exist (or perhaps you don't have permission to use it?)"
        ),
    ) -> None:
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class InvalidField:
    """One reason a body or an input was refused, in Replicate's shape."""

    type: str
    field: str
    description: str


class InvalidRequest(RequestError):
    """A body, header or query parameter breaks the API's rules."""

    def __init__(self, detail: str, fields: list[InvalidField] | None = None) -> None:
        super().__init__(detail)
        self.fields = fields or []

    @classmethod
    def from_fields(cls, fields: list[InvalidField]) -> InvalidRequest:
        """Build the error whose detail lists every field problem, one per line."""
        lines = [f"- {f.field or '(root)'}: {f.description}" for f in fields]
        return cls("\n".join(lines), fields)


class InvalidInput(InvalidRequest):
    """The prediction input does not satisfy the model's input schema."""


class MalformedBody(RequestError):
    """The request body is not a JSON document."""


class Throttled(RequestError):
    """Too many requests: over a rate limit, or too many predictions unfinished."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        """Whole seconds after which trying again can succeed, when that is known."""


class Unavailable(RequestError):
    """What the request needs cannot be had now (a routed model's upstream cannot be
    reached to describe the model; the server stopped before it could start a prediction
    offered to it); try again later."""

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UpstreamRefused(RequestError):
    """A routed model's upstream refused to create the prediction (invalid input the
    schema here did not catch, a model gone upstream): its problem, passed on as it was."""

    def __init__(self, detail: str, *, status: int, title: str | None = None,
                 fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        """The HTTP status to answer with (the upstream's, or 502 for a refusal that is
        the gateway's own business, such as its token)."""
        self.title = title
        self.fields = fields or []
        """The upstream's ``invalid_fields``, if it listed them."""


class UnsupportedMediaType(RequestError):
    """The request body is of a media type the route does not take."""


class BodyTooLarge(RequestError):
    """The request body exceeds the configured limit."""


class FileTooLarge(BodyTooLarge):
    """An uploaded file exceeds ``REPLICAST_MAX_FILE_BYTES``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Files must be less than {_size_text(limit)} in size")
        self.limit = limit


class FilesQuotaExceeded(BodyTooLarge):
    """An upload would take an account's files past ``REPLICAST_MAX_ACCOUNT_FILE_BYTES``."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(
            f"Your files take {_size_text(used)} and may take at most {_size_text(limit)}: "
            "delete some (DELETE /v1/files/{id}) or wait for them to expire")


def _size_text(size: int) -> str:
    """A byte count as Replicate writes its limits: ``100MB``, ``64KB``, ``1000 bytes``."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"


class BrokerError(ReplicastError):
    """The broker cannot be reached or refused an operation."""


class IllegalTransition(ReplicastError):
    """A prediction status change that the state machine does not allow."""


class ModelError(ReplicastError):
    """A model failed; the message is shown to the user as the prediction's error."""


class UpstreamError(ModelError):
    """A routed model's upstream failed, refused or could not be reached; the message
    names the upstream by its base URL, never by its token."""

    def __init__(self, message: str, *, status: int | None = None,
                 problem: dict[str, object] | None = None, unanswered: bool = False) -> None:
        super().__init__(message)
        self.status = status
        """The upstream's HTTP status, when it answered."""
        self.problem = problem
        """The upstream's problem body (JSON object), when it sent one."""
        self.unanswered = unanswered
        """The request may have reached the upstream, which never answered: a create
        may have happened there, so it must not be sent again."""
