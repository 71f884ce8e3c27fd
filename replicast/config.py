"""Settings: the one place that reads ``REPLICAST_*`` environment variables."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from replicast import times
from replicast.errors import ConfigError
from replicast.gateway.routing import UpstreamRoute, read_routes_file
from replicast.models import backends, random_weights
from replicast.predictions import input_limits
from replicast.predictors.spec import PredictorSpec, parse_pairs, read_models_file
from replicast.storage import location as storage_location
from replicast.storage import presign

T = TypeVar("T")

LORA_MAX_BYTES = 2 * 1024**3
"""The largest LoRA taken by default (``REPLICAST_LORA_MAX_BYTES``)."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/replicast`` or ``~/.local/share/replicast``."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "replicast"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about a Replicast process."""

    data_dir: Path
    """Folder holding the SQLite database and output files (REPLICAST_DATA_DIR)."""
    database_url: str = ""
    """Store backend URL; empty means SQLite inside data_dir (REPLICAST_DATABASE_URL)."""
    broker_url: str = "memory://"
    """Queue and event backend URL (REPLICAST_BROKER_URL)."""
    public_url: str | None = None
    """Absolute base URL used in every URL the API returns (REPLICAST_PUBLIC_URL)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the proxies in front of this server, comma-separated,
    whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` say who the client is; none by
    default, when the client is the connection's peer (REPLICAST_TRUSTED_PROXIES)."""
    api_token: str | None = None
    """A token that always works for the default account (REPLICAST_API_TOKEN)."""
    metrics_token: str | None = None
    """The bearer token ``GET /metrics`` then needs, on API and worker processes; none
    by default, when it needs none (REPLICAST_METRICS_TOKEN)."""
    host: str = "127.0.0.1"
    """Interface to listen on (REPLICAST_HOST, --host)."""
    port: int = 8000
    """TCP port to listen on (REPLICAST_PORT, --port)."""
    run_worker: bool = True
    """Run predictions in this process (REPLICAST_WORKER)."""
    weights_dir: Path | None = None
    """Folder of model weights, ``<owner>/<name>/`` each (REPLICAST_WEIGHTS_DIR);
    default ``<data dir>/weights``."""
    random_weights: tuple[str, ...] = ()
    """Models whose pipelines are built at their real size with random weights instead of
    loaded from the weights folder, comma-separated ``owner/name``: they run exactly as
    fast as the real ones, with no download, and their images are noise; for measuring
    speed (REPLICAST_RANDOM_WEIGHTS, ``--random-weights``)."""
    random_weights_size: str = "full"
    """``full``: random weights in the published architectures; ``tiny``: the same
    architectures a few thousand parameters wide, for tests and dry runs on a CPU
    (REPLICAST_RANDOM_WEIGHTS_SIZE)."""
    load_models: str = "startup"
    """Load real models at ``startup`` or on ``first-use`` (REPLICAST_LOAD_MODELS)."""
    device: str = "auto"
    """Where real models run: ``auto`` (CUDA if there is one), ``cpu``, ``cuda`` or
    ``cuda:N`` (REPLICAST_DEVICE)."""
    step_cache: float = 0.0
    """First-Block-Cache threshold for the FLUX models' ``go_fast`` runs (fewer transformer
    passes, some quality lost; 0.05 to 0.1 is typical): 0 for none (REPLICAST_STEP_CACHE)."""
    compile_models: bool = True
    """On a CUDA GPU, compile the go_fast transformers and the VAE decoders
    (REPLICAST_COMPILE_MODELS)."""
    warm_up: bool = True
    """Where something was compiled, run every size the model's schema allows once at
    setup, so that no request pays a compilation (REPLICAST_WARM_UP)."""
    batching: bool = True
    """Run text-to-image predictions of one model that can share a pipeline call (same
    size, steps, guidance, LoRAs, go_fast) as one batched call, when they wait for the
    device together (REPLICAST_BATCHING)."""
    max_batch: int = 8
    """Most predictions in one batched pipeline call (REPLICAST_MAX_BATCH)."""
    max_batch_pixels: int = 4 * 1024 * 1024
    """Most pixels the images of one batched call may add up to, width x height x images:
    four 1024x1024 images, sixteen 512x512 (REPLICAST_MAX_BATCH_PIXELS)."""
    predictors: tuple[PredictorSpec, ...] = ()
    """Users' Cog-style predictors to serve, ``owner/name=path/to/predict.py:Predictor``,
    comma-separated (REPLICAST_PREDICTORS, ``--predictor`` with ``--model-name``)."""
    models_file: Path | None = None
    """A TOML file listing more predictors to serve (REPLICAST_MODELS_FILE,
    ``--models-file``)."""
    routes_file: Path | None = None
    """A YAML or TOML file routing models to upstream Replicate-compatible APIs
    (REPLICAST_ROUTES); see docs/api.md, Gateway mode."""
    routes: tuple[UpstreamRoute, ...] = ()
    """The routes read from ``routes_file``, with their tokens from the environment."""
    model_backends: tuple[backends.Choice, ...] = ()
    """What serves each catalog model, ``owner/name=backend`` comma-separated: ``stand-in``,
    ``weights``, ``weights:<owner/name>`` or ``gateway`` (REPLICAST_MODEL_BACKENDS)."""
    setup_timeout: float = 600.0
    """Seconds a predictor may take to load and run ``setup()`` (REPLICAST_SETUP_TIMEOUT)."""
    predictor_healthcheck_interval: float = 10.0
    """Seconds between two calls of an idle predictor's ``healthcheck()``
    (REPLICAST_PREDICTOR_HEALTHCHECK_INTERVAL)."""
    predictor_healthcheck_timeout: float = 5.0
    """Seconds one call of a predictor's ``healthcheck()`` may take before it counts as
    failed, 5 as in Cog (REPLICAST_PREDICTOR_HEALTHCHECK_TIMEOUT)."""
    predict_timeout: float = 1800.0
    """Seconds a prediction may run before it fails (REPLICAST_PREDICT_TIMEOUT)."""
    lease_seconds: float = 30.0
    """Seconds a worker's claim on a running prediction lasts unless renewed; a worker
    silent for that long is presumed dead and its predictions run elsewhere
    (REPLICAST_LEASE_SECONDS)."""
    worker_models: tuple[str, ...] = ()
    """The models this process's worker serves, comma-separated; all when empty
    (REPLICAST_WORKER_MODELS, ``replicast worker --models``)."""
    max_attempts: int = 3
    """Runs a prediction gets when a restart interrupts it (REPLICAST_MAX_ATTEMPTS)."""
    rate_limit_creates: int = 600
    """Prediction creates a token may make a minute; 0 for no limit
    (REPLICAST_RATE_LIMIT_CREATES)."""
    rate_limit_requests: int = 3000
    """Other API requests a token may make a minute; 0 for no limit
    (REPLICAST_RATE_LIMIT_REQUESTS)."""
    rate_limit_burst_seconds: float = 60.0
    """How many seconds' worth of its limit a token may spend at once
    (REPLICAST_RATE_LIMIT_BURST_SECONDS)."""
    rate_limit_auth_failures: int = 30
    """Failed authentications a client address may make a minute, after which it is
    answered 429, even with a valid token, until it may fail again; 0 for no limit
    (REPLICAST_RATE_LIMIT_AUTH_FAILURES)."""
    max_unfinished_predictions: int = 0
    """Predictions an account may have starting or processing at once; 0 for no limit
    (REPLICAST_MAX_UNFINISHED_PREDICTIONS)."""
    max_request_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted, in bytes (REPLICAST_MAX_REQUEST_BYTES)."""
    max_input_bytes: int = input_limits.MAX_BYTES
    """Largest prediction input kept, as JSON text, in bytes (REPLICAST_MAX_INPUT_BYTES)."""
    max_input_string_bytes: int = input_limits.MAX_STRING_BYTES
    """Largest string in a prediction input, in bytes of UTF-8
    (REPLICAST_MAX_INPUT_STRING_BYTES)."""
    max_page_bytes: int = 4 * 1024 * 1024
    """Stored input, output and logs after which a page of ``GET /v1/predictions`` ends
    early, in bytes (REPLICAST_MAX_PAGE_BYTES)."""
    max_input_file_bytes: int = 64 * 1024 * 1024
    """Largest input file fetched from a URL or data URI (REPLICAST_MAX_INPUT_FILE_BYTES)."""
    max_input_files: int = 100
    """Most input files one prediction may name, each item of a list counting once; 0
    for no limit (REPLICAST_MAX_INPUT_FILES)."""
    max_input_total_bytes: int = 256 * 1024 * 1024
    """Most bytes one prediction's distinct input files may take in all; 0 for no limit
    (REPLICAST_MAX_INPUT_TOTAL_BYTES)."""
    input_fetch_timeout: float = 30.0
    """Seconds one input file's download may take in all, from its request to its last
    byte (REPLICAST_INPUT_FETCH_TIMEOUT)."""
    download_min_rate: int = 32 * 1024
    """Bytes a second a download of an input file, or of a routed model's output file,
    must average once its body has had 5 seconds; 0 for no minimum
    (REPLICAST_DOWNLOAD_MIN_RATE)."""
    images_default_model: str = "black-forest-labs/flux-schnell"
    """The model of an OpenAI images request that names none
    (REPLICAST_IMAGES_DEFAULT_MODEL)."""
    max_file_bytes: int = 100 * 1024 * 1024
    """Largest file ``POST /v1/files`` accepts, in bytes (REPLICAST_MAX_FILE_BYTES)."""
    file_retention: float = 86400.0
    """Seconds an uploaded file is kept; 0 keeps files until they are deleted
    (REPLICAST_FILE_RETENTION, like ``24h``)."""
    max_account_file_bytes: int = 10 * 1024**3
    """Most bytes one account's unexpired uploads may take; 0 for no limit
    (REPLICAST_MAX_ACCOUNT_FILE_BYTES)."""
    lora_max_bytes: int = LORA_MAX_BYTES
    """Largest LoRA weights file a prediction may name, in bytes (REPLICAST_LORA_MAX_BYTES)."""
    lora_fetch_timeout: float = 600.0
    """Seconds one LoRA's download may take in all, from its request to its last byte
    (REPLICAST_LORA_FETCH_TIMEOUT); it must also keep REPLICAST_DOWNLOAD_MIN_RATE."""
    lora_cache_dir: Path | None = None
    """Where downloaded LoRAs are kept (REPLICAST_LORA_CACHE_DIR); default
    ``<data dir>/loras``."""
    lora_cache_bytes: int = 20 * 1024**3
    """Most bytes the kept LoRAs may take; the least recently used go first
    (REPLICAST_LORA_CACHE_BYTES). At least REPLICAST_LORA_MAX_BYTES."""
    hf_endpoint: str = "https://huggingface.co"
    """The Hugging Face hub that ``huggingface.co/...`` LoRAs are fetched from
    (REPLICAST_HF_ENDPOINT, else HF_ENDPOINT): point it at a mirror."""
    allow_private_urls: bool = False
    """Let webhooks and input URLs reach loopback and private networks
    (REPLICAST_ALLOW_PRIVATE_URLS); for local development and tests."""
    webhook_timeout: float = 10.0
    """Seconds a webhook receiver has to answer one attempt (REPLICAST_WEBHOOK_TIMEOUT)."""
    webhook_retry_window: float = 3600.0
    """Seconds the ``completed`` webhook is retried for (REPLICAST_WEBHOOK_RETRY_WINDOW)."""
    webhook_backoff: float = 1.0
    """Seconds before the first retry; each retry waits about twice as long
    (REPLICAST_WEBHOOK_BACKOFF)."""
    retention: float = 3600.0
    """Seconds after it finishes that an API prediction's input, output, logs and files
    are removed, as Replicate does; 0 keeps them (REPLICAST_RETENTION, like ``1h``)."""
    output_url_ttl: float = 3600.0
    """Seconds an output file's signed URL works for, at least (REPLICAST_OUTPUT_URL_TTL)."""
    storage_url: str = ""
    """``s3://bucket/prefix``: keep output files and uploads in that S3-compatible bucket
    instead of the data folder, so that processes on other machines share them; the
    endpoint, region and credentials come from the usual AWS variables
    (REPLICAST_STORAGE_URL)."""
    storage_presigned_urls: bool = False
    """Show output files as the bucket's own presigned URLs, with the expiry Replicast's
    links would have, instead of Replicast's links that stream them through
    (REPLICAST_STORAGE_PRESIGNED_URLS)."""
    data_uri_outputs: int = 0
    """Largest output file, in bytes, that the responses about one prediction carry as a
    ``data:`` URI instead of a URL, for clients of a plain-http server; 0 for none
    (REPLICAST_DATA_URI_OUTPUTS)."""
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and header lines) read, in bytes; past it the
    answer is a 431 and the connection closes (REPLICAST_MAX_HEADER_BYTES)."""
    max_headers: int = 100
    """Most header lines one request may have; past it a 431 (REPLICAST_MAX_HEADERS)."""
    header_timeout: float = 10.0
    """Seconds a request head may take to arrive, from its first byte (a new connection's
    first head: from the connection) to its end (REPLICAST_HEADER_TIMEOUT)."""
    body_timeout: float = 30.0
    """Seconds any request body may take to arrive; a longer one must average
    ``body_min_rate`` (REPLICAST_BODY_TIMEOUT)."""
    body_min_rate: int = 1024
    """Bytes a second a request body must average once it has taken ``body_timeout``
    seconds; 0 for none, so that every body must arrive within ``body_timeout``
    (REPLICAST_BODY_MIN_RATE)."""
    max_connections: int = 1000
    """Most connections open at once; one past it is closed at once with a 503; 0 for no
    limit (REPLICAST_MAX_CONNECTIONS)."""
    max_connections_per_client: int = 500
    """Most connections one client address may have open at once; 0 for no limit
    (REPLICAST_MAX_CONNECTIONS_PER_CLIENT)."""
    shutdown_grace: float = 10.0
    """Seconds running predictions get to finish on shutdown (REPLICAST_SHUTDOWN_GRACE)."""
    tls_certfile: Path | None = None
    """PEM certificate to serve HTTPS with (REPLICAST_TLS_CERTFILE)."""
    tls_keyfile: Path | None = None
    """PEM private key for the certificate (REPLICAST_TLS_KEYFILE)."""
    access_log: bool = False
    """Log every HTTP request (REPLICAST_ACCESS_LOG)."""
    log_level: str = "info"
    """Logging level: debug, info, warning or error (REPLICAST_LOG_LEVEL)."""
    log_format: str = "text"
    """``text`` lines, or ``json``: one object per line, with the prediction id on every
    line about a prediction (REPLICAST_LOG_FORMAT)."""

    @property
    def store_url(self) -> str:
        """The store URL actually used."""
        return self.database_url or f"sqlite:///{self.data_dir / 'replicast.db'}"

    @property
    def weights(self) -> Path:
        """The weights folder actually used."""
        return self.weights_dir or self.data_dir / "weights"

    def all_predictors(self) -> tuple[PredictorSpec, ...]:
        """The predictors to serve: those named directly, then the models file's."""
        listed = read_models_file(self.models_file) if self.models_file is not None else ()
        return (*self.predictors, *listed)

    @property
    def lora_cache(self) -> Path:
        """The LoRA cache folder actually used."""
        return self.lora_cache_dir or self.data_dir / "loras"

    @property
    def outputs_dir(self) -> Path:
        """Where output files are written."""
        return self.data_dir / "outputs"

    @property
    def files_dir(self) -> Path:
        """Where the contents of uploaded files are written."""
        return self.data_dir / "files"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``env`` (default ``os.environ``); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in _DERIVED:
                continue
            name = f"REPLICAST_{_ENV_NAMES.get(field.name, field.name).upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parse = _PARSERS.get(field.name, str)
            try:
                values[field.name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from None
        values.setdefault("data_dir", default_data_dir(env))
        if "hf_endpoint" not in values and env.get("HF_ENDPOINT"):
            # huggingface_hub's own variable, for those who set it for a mirror already.
            values["hf_endpoint"] = _url(env["HF_ENDPOINT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("routes_file") is not None and "routes" not in overrides:
            values["routes"] = read_routes_file(values["routes_file"], env)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot work, naming the variable at fault."""
        if not 0 < self.port < 65536:
            raise ConfigError(f"REPLICAST_PORT={self.port} must be between 1 and 65535")
        if self.storage_url:
            try:
                storage_location.parse(self.storage_url)
            except ValueError as exc:
                raise ConfigError(f"REPLICAST_STORAGE_URL: {exc}") from None
        if self.storage_presigned_urls and not self.storage_url:
            raise ConfigError("REPLICAST_STORAGE_PRESIGNED_URLS needs REPLICAST_STORAGE_URL: "
                              "files in the data folder have no bucket URLs")
        if self.storage_presigned_urls and 2 * int(self.output_url_ttl) > presign.MAX_EXPIRES:
            raise ConfigError(f"REPLICAST_OUTPUT_URL_TTL={self.output_url_ttl:g} is too long "
                              "for presigned URLs (REPLICAST_STORAGE_PRESIGNED_URLS), which "
                              f"work for at most {presign.MAX_EXPIRES // 2} seconds' steps "
                              "(3.5 days)")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ConfigError("REPLICAST_TLS_CERTFILE and REPLICAST_TLS_KEYFILE go together")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"REPLICAST_PUBLIC_URL={self.public_url!r} must start with http(s)://")
        if self.load_models not in {"startup", "first-use"}:
            raise ConfigError(f"REPLICAST_LOAD_MODELS={self.load_models!r} must be startup or "
                              "first-use")
        if self.device != "auto" and self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(f"REPLICAST_DEVICE={self.device!r} must be auto, cpu or cuda[:N]")
        for name, token in (("REPLICAST_API_TOKEN", self.api_token),
                            ("REPLICAST_METRICS_TOKEN", self.metrics_token)):
            if token is not None and weak_token(token):
                raise ConfigError(
                    f"{name} is too weak: use at least {MIN_TOKEN_LENGTH} characters, "
                    f"with at least {MIN_TOKEN_DISTINCT} different ones, at random "
                    "(replicast keys create makes such tokens)")
        if not self.hf_endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"REPLICAST_HF_ENDPOINT={self.hf_endpoint!r} must start with "
                              "http(s)://")
        if self.lora_cache_bytes < self.lora_max_bytes:
            raise ConfigError(f"REPLICAST_LORA_CACHE_BYTES={self.lora_cache_bytes} must be at "
                              f"least REPLICAST_LORA_MAX_BYTES={self.lora_max_bytes}: the cache "
                              "must hold the largest LoRA taken")
        if self.log_format not in {"text", "json"}:
            raise ConfigError(f"REPLICAST_LOG_FORMAT={self.log_format!r} must be text or json")
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise ConfigError(f"REPLICAST_LOG_LEVEL={self.log_level!r} is not a level")
        backends.check(self.model_backends, self.routes)
        random_weights.check(self.random_weights, self.random_weights_size)


MIN_TOKEN_LENGTH = 32
MIN_TOKEN_DISTINCT = 10


def weak_token(token: str) -> bool:
    """Whether an operator's token is too short, or made of too few characters, to hold
    against guessing (the failure limit slows guesses; it cannot make a weak token safe)."""
    return len(token) < MIN_TOKEN_LENGTH or len(set(token)) < MIN_TOKEN_DISTINCT


_ENV_NAMES = {"run_worker": "worker", "routes_file": "routes"}
_DERIVED = {"routes"}  # made from other settings, not read from a variable of its own


def parse_flag(flag: str, setting: str, raw: str) -> Any:
    """A command-line flag's value, read as its setting's variable is; an error names the
    flag."""
    try:
        return _PARSERS.get(setting, str)(raw)
    except ValueError as exc:
        raise ConfigError(f"{flag}={raw!r} is not valid: {exc}") from None


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected a whole number") from None


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("expected a number") from None


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if not value > 0:  # type: ignore[operator]
            raise ValueError("must be greater than zero")
        return value

    return parse


def _not_negative(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if value < 0:  # type: ignore[operator]
            raise ValueError("must not be negative")
        return value

    return parse


def _at_least(least: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _whole(raw)
        if value < least:
            raise ValueError(f"must be at least {least}")
        return value

    return parse


def _url(raw: str) -> str:
    return raw.rstrip("/")


def _storage_url(raw: str) -> str:
    if not raw.strip():
        return ""
    return str(storage_location.parse(raw))


def _networks(raw: str) -> tuple[str, ...]:
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
        networks.append(str(network.network_address) if network.num_addresses == 1
                        else str(network))
    return tuple(networks)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "data_dir": lambda raw: Path(raw).expanduser(),
    "tls_certfile": Path,
    "tls_keyfile": Path,
    "weights_dir": lambda raw: Path(raw).expanduser(),
    "port": _whole,
    "run_worker": _boolean,
    "step_cache": _not_negative(_number),
    "compile_models": _boolean,
    "warm_up": _boolean,
    "batching": _boolean,
    "max_batch": _positive(_whole),
    "max_batch_pixels": _positive(_whole),
    "access_log": _boolean,
    "allow_private_urls": _boolean,
    "webhook_timeout": _positive(_number),
    "webhook_retry_window": _positive(_number),
    "webhook_backoff": _positive(_number),
    "predict_timeout": _positive(_number),
    "lease_seconds": _positive(_number),
    "worker_models": lambda raw: tuple(n.strip() for n in raw.split(",") if n.strip()),
    "setup_timeout": _positive(_number),
    "predictor_healthcheck_interval": _positive(_number),
    "predictor_healthcheck_timeout": _positive(_number),
    "predictors": parse_pairs,
    "models_file": lambda raw: Path(raw).expanduser(),
    "routes_file": lambda raw: Path(raw).expanduser(),
    "model_backends": backends.parse,
    "random_weights": lambda raw: tuple(n.strip() for n in raw.split(",") if n.strip()),
    "random_weights_size": str.lower,
    "max_attempts": _positive(_whole),
    "rate_limit_creates": _not_negative(_whole),
    "rate_limit_requests": _not_negative(_whole),
    "rate_limit_burst_seconds": _positive(_number),
    "rate_limit_auth_failures": _not_negative(_whole),
    "max_unfinished_predictions": _not_negative(_whole),
    "max_request_bytes": _positive(_whole),
    "max_input_bytes": _positive(_whole),
    "max_input_string_bytes": _positive(_whole),
    "max_page_bytes": _positive(_whole),
    "max_input_file_bytes": _positive(_whole),
    "max_input_files": _not_negative(_whole),
    "max_input_total_bytes": _not_negative(_whole),
    "input_fetch_timeout": _positive(_number),
    "download_min_rate": _not_negative(_whole),
    "max_file_bytes": _positive(_whole),
    "max_header_bytes": _at_least(1024),
    "max_headers": _positive(_whole),
    "header_timeout": _positive(_number),
    "body_timeout": _positive(_number),
    "body_min_rate": _not_negative(_whole),
    "max_connections": _not_negative(_whole),
    "max_connections_per_client": _not_negative(_whole),
    "lora_max_bytes": _positive(_whole),
    "lora_fetch_timeout": _positive(_number),
    "lora_cache_dir": lambda raw: Path(raw).expanduser(),
    "lora_cache_bytes": _positive(_whole),
    "hf_endpoint": _url,
    "max_account_file_bytes": _not_negative(_whole),
    "file_retention": lambda raw: times.parse_duration(raw).total_seconds(),
    "shutdown_grace": _number,
    "retention": lambda raw: times.parse_duration(raw).total_seconds(),
    "output_url_ttl": _positive(lambda raw: times.parse_duration(raw).total_seconds()),
    "data_uri_outputs": _not_negative(_whole),
    "storage_url": _storage_url,
    "storage_presigned_urls": _boolean,
    "public_url": _url,
    "trusted_proxies": _networks,
    "log_level": str.lower,
    "log_format": str.lower,
}
