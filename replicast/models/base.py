"""What a model is: a name, a schema, and a runner that turns input into output.

Most runners run predictions themselves. A routed model's runner (gateway mode) has
them run by an upstream server instead, and a few verbs name what that takes:

* **hand on** (``Runner.hands_on``, ``Runner.submit``): give a new prediction to the
  upstream while its create request waits, so that the upstream's refusal is the
  create's answer; the id it gets there is the prediction's ``upstream_id``.
* **withdraw** (``Runner.withdraw``): cancel at the upstream a prediction that ended
  here before it ran.
* **nudge** (``RunContext.wait_nudge``): wake a run that follows its upstream
  prediction, when the upstream's webhook says it changed.
"""

from __future__ import annotations

import abc
import hashlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from replicast.models.file_inputs import file_inputs
from replicast.models.validation import InputCheck, InputValidator

SECRET_MASK = "**********"
"""What a Secret input shows instead of its value, as in Cog."""


@dataclass(frozen=True, slots=True)
class OwnFile:
    """A file uploaded to this server (Files API) that a prediction's input names."""

    name: str
    content_type: str
    data: bytes


OwnFiles = Callable[[str], Awaitable[OwnFile | None]]
"""Reads the uploaded file a URL names, as the prediction's account (None: not one of
this server's files); raises ``RequestError`` if the account cannot read it."""

OwnFilePath = Callable[[str], Awaitable[Path | None]]
"""Where on disk the uploaded file a URL names lies, as the prediction's account (None:
not one of this server's files, or the server keeps no files); raises ``RequestError``
if the account cannot read it. The file may be deleted at any time: read it once."""

CreateCheck = Callable[[Mapping[str, Any], str, OwnFilePath], Awaitable[None]]
"""A model's checks at a create beyond its schema that need the server's base URL or the
account's uploads: given the input with defaults filled in, the base URL and
``OwnFilePath``; raises ``InvalidInput`` naming the field."""


class RunContext(Protocol):
    """What a runner may do while it runs one prediction."""

    prediction_id: str
    cancel_event: threading.Event
    """Set when the prediction must stop; code on other threads should check it."""
    upstream_id: str | None
    """The id ``Runner.submit`` (or an earlier run) got from the server the prediction
    was handed to; None if it was not handed on yet."""
    previews: int
    """How many previews of its image the prediction asked for as it is made (OpenAI's
    ``partial_images``): 0 for none. A runner sends them with ``preview``."""
    context: dict[str, str]
    """The ``context`` the create request gave (Cog's per-request strings); empty if
    none. Predictors read it as ``current_scope().context``."""
    interrupted: bool
    """Set, before the run is canceled, when it stops because this process is stopping:
    the prediction will run again (elsewhere, or after a restart), so what the run
    started elsewhere must be left running, not canceled."""

    def log(self, text: str) -> None:
        """Append ``text`` to the prediction's logs (add the newline yourself)."""

    async def emit(self, item: Any) -> None:
        """Publish one more item of an iterator output."""

    async def save_file(self, name: str, data: bytes) -> str:
        """Store an output file; its absolute URL."""

    async def fetch_file(self, url: str) -> bytes:
        """The bytes behind an input file URL or data URI."""

    async def input_file(self, url: str) -> Path:
        """The input file behind a URL or data URI on local disk, named as it was uploaded
        or as its URL says (extension kept), until the run ends. Those the model's schema
        declares were fetched before the run began; others are fetched now."""

    def record_metric(self, name: str, value: float | int) -> None:
        """Add a value to the prediction's ``metrics``."""

    def preview(self, index: int, image: bytes, image_format: str) -> None:
        """Send the ``index``-th preview (from 0, fewer than ``previews``) to whoever
        listens: the image as it stands, encoded as ``image_format``. From any thread."""

    def check_canceled(self) -> None:
        """Raise ``asyncio.CancelledError`` if the prediction must stop (for threads)."""

    async def wait_nudge(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for a hint that the prediction has news from
        elsewhere (an upstream's webhook); whether one came. Each hint is taken once."""

    async def own_file(self, url: str, *, max_bytes: int | None = None) -> OwnFile | None:
        """The uploaded file of this server's own that ``url`` names, read as the
        prediction's account, for handing it on; None for any other URL. ``ModelError``
        past ``max_bytes`` (by default, the limit on input files)."""

    async def remember_upstream(self, upstream_id: str) -> None:
        """Keep the id the prediction got at the server it was handed to, so that a run
        after a crash follows it there rather than handing it on again."""


@dataclass(frozen=True, slots=True)
class Health:
    """What a model's own health check last found (a predictor's ``healthcheck()``)."""

    error: str | None = None
    """Why it is unhealthy; None when it is healthy."""
    checked_at: datetime | None = None
    """When the check answered; None for a model with no check to call."""

    @property
    def healthy(self) -> bool:
        return self.error is None


class Runner(abc.ABC):
    """Runs predictions of one model. Implementations must honour cancellation."""

    concurrency: int = 1
    """How many predictions of this model may run at once."""
    served_by: str = "replicast"
    """What answers the model's predictions, as ``GET /v1/models`` shows it."""
    pauses: bool = False
    """Whether the runner may ever pause (``paused``, ``on_pause``): the worker watches
    for a pause only then."""
    hands_on: bool = False
    """Whether ``submit`` hands new predictions to another server (see there), input
    file URLs included: the worker then fetches none of them before a run."""

    @property
    def slot_pool(self) -> object:
        """What ``concurrency`` bounds: the predictions of every model whose runner has the
        same pool share its ``concurrency`` slots (models served by one loaded pipeline).
        By default the runner itself."""
        return self

    async def setup(self) -> None:
        """Load what ``predict`` needs; called once before the first prediction."""

    async def wait_ready(self) -> None:
        """Return once the runner can take a prediction (at once, unless it is setting up).

        The worker waits here before taking a prediction off the queue, so that
        predictions stay ``starting`` while the model sets up.
        """

    def setup_report(self) -> dict[str, Any] | None:
        """How the model's setup went, for ``GET /v1/models/...`` (None: nothing to show)."""
        return None

    def health(self) -> Health | None:
        """What the model's own health check last found, for readiness and metrics (None:
        it has none, or is not set up)."""
        return None

    @property
    def paused(self) -> bool:
        """Whether the runner takes no prediction until further notice (an unhealthy
        predictor); by default, never. The worker then leaves the model's queue alone, so
        that its predictions stay ``starting``, until ``wait_ready`` returns again."""
        return False

    def on_pause(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Have ``callback`` called, on the event loop, when the runner pauses; what this
        returns stops that. By default the runner never pauses: nothing to watch."""
        return _nothing

    async def submit(self, prediction_id: str, inputs: dict[str, Any],
                     own_files: OwnFiles) -> str | None:
        """Hand a new prediction to the server that runs it, while its create request waits.

        A runner that runs predictions elsewhere (a routed model's upstream) starts them
        here, so that the other server's refusal is the create's answer: raise a
        ``RequestError`` for it. Raise ``ModelError`` when the prediction has failed
        already. Return the id the other server gave it (``RunContext.upstream_id``
        when it runs), or None to hand it on when it runs. ``own_files`` reads the
        files uploaded here that the input names, to hand them on too. The default, for
        runners that run predictions themselves, hands nothing on.
        """
        return None

    async def withdraw(self, upstream_id: str) -> None:
        """Cancel, at the server it was handed to, a prediction ended here before it ran."""

    @abc.abstractmethod
    async def predict(self, context: RunContext, inputs: dict[str, Any]) -> Any:
        """Run one prediction and return its output.

        ``inputs`` are validated and have defaults filled in. A runner that emits
        its output item by item returns None; the output is then the emitted list.
        Raise ``ModelError`` for a failure the user should read.
        """


@dataclass(frozen=True, slots=True)
class WeightsUse:
    """Which model's weights serve a model, and the hub repository they come from."""

    model: str
    """The ``owner/name`` whose weights folder is used: the model itself, its base (a
    LoRA model), or another model the operator chose."""
    repository: str | None
    """The hub repository those weights are published in, when known."""
    random: bool = False
    """Whether random weights in that model's architecture stand in for them
    (``REPLICAST_RANDOM_WEIGHTS``): its speed, not its images."""


@dataclass(frozen=True)
class Model:
    """A model the server can run, with the one version it serves."""

    owner: str
    name: str
    description: str
    openapi_schema: dict[str, Any]
    runner: Runner
    version_created_at: datetime
    official: bool = False
    """Official models report ``version: "hidden"`` in predictions, as Replicate's do."""
    visibility: str = "public"
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None
    given_version_id: str | None = None
    """The version id when another server decides it (a routed model's upstream version,
    Replicate's for a catalog model); else ``version_id`` is a digest of the name and the
    schema."""
    input_check: InputCheck | None = field(default=None, repr=False)
    """What the model refuses beyond its schema (see ``InputValidator``)."""
    null_inputs: bool = True
    """Whether an explicit null is a value of a nullable input, as the built-in models
    take it. Cog's own server validates with JSON Schema, which knows no ``nullable``,
    and refuses it: so do users' predictors here."""
    create_check: CreateCheck | None = field(default=None, repr=False)
    """What the model refuses at a create beyond its schema and ``input_check`` that
    needs the server's base URL (which URLs are its own files) or the uploads themselves
    (see ``CreateCheck``)."""
    weights: WeightsUse | None = None
    """The weights that run the model, when open weights do (a Replicast addition to
    ``GET /v1/models``)."""
    version_id: str = field(init=False)
    validator: InputValidator = field(init=False, repr=False)
    secret_inputs: frozenset[str] = field(init=False, repr=False)
    """Inputs typed Secret: shown masked, and forgotten once a prediction finishes."""
    file_inputs: dict[str, bool] = field(init=False, repr=False)
    """Inputs typed as files (``format: uri``): name to whether it is a list of them."""

    def __post_init__(self) -> None:
        digest = hashlib.sha256(
            orjson.dumps([self.full_name, self.openapi_schema], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        object.__setattr__(self, "version_id", self.given_version_id or digest)
        object.__setattr__(self, "validator", InputValidator(
            self.openapi_schema, self.input_check, null_inputs=self.null_inputs))
        properties = self.openapi_schema.get("components", {}).get("schemas", {}).get(
            "Input", {}).get("properties", {})
        object.__setattr__(self, "secret_inputs", frozenset(
            name for name, prop in properties.items()
            if prop.get("x-cog-secret") or (prop.get("items") or {}).get("x-cog-secret")))
        object.__setattr__(self, "file_inputs", file_inputs(self.openapi_schema))

    def split_secrets(self, inputs: dict[str, Any]) -> tuple[dict[str, Any],
                                                              dict[str, Any] | None]:
        """``inputs`` with Secret values masked, and those values (None if there are none)."""
        secrets = {name: inputs[name] for name in self.secret_inputs
                   if inputs.get(name) is not None}
        if not secrets:
            return inputs, None
        shown = {name: [SECRET_MASK] * len(value) if isinstance(value, list) else SECRET_MASK
                 for name, value in secrets.items()}
        return {**inputs, **shown}, secrets

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    @property
    def prediction_version(self) -> str:
        """What a prediction of this model shows as its ``version``."""
        return "hidden" if self.official else self.version_id


def _nothing() -> None:
    pass
