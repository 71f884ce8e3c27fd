"""The routes file (``REPLICAST_ROUTES``): which models go to which upstream.

YAML or TOML, by the file's suffix::

    routes:
      - models: ["black-forest-labs/*", "acme/upscaler"]
        base_url: https://api.replicate.com
        token_env: REPLICATE_UPSTREAM_TOKEN
        copy_outputs: true

Tokens never appear in the file: a route names the environment variable holding
its token. Errors name the file and the key (and the line, for YAML).
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from replicast.errors import ConfigError

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True, slots=True)
class UpstreamRoute:
    """Where the models matching ``patterns`` are run, and how."""

    patterns: tuple[str, ...]
    """Exact ``owner/name`` names, or fnmatch patterns such as ``owner/*``."""
    base_url: str
    """The upstream's root: ``https://api.replicate.com``, ``<host>/replicate``, a Replicast."""
    token_env: str
    """The environment variable holding the upstream's token."""
    token: str = field(repr=False, default="")
    """The token itself, read from ``token_env``; never shown."""
    copy_outputs: bool = True
    """Download output files and serve them from here, so they outlive the upstream's copy."""
    timeout: float = 30.0
    """Seconds one request to the upstream may take."""
    download_timeout: float = 600.0
    """Seconds copying one output file may take in all, retries included."""
    retries: int = 4
    """Tries again after a failed request (connection, timeout, 5xx, 429) before giving up."""
    backoff: float = 0.5
    """Seconds before the first retry; each retry waits about twice as long."""
    poll_interval: float = 0.5
    """Seconds between the first polls of a running prediction; it grows to the maximum."""
    max_poll_interval: float = 5.0
    """Most seconds between two polls."""
    schema_ttl: float = 300.0
    """Seconds a model's schema fetched from the upstream is used before it is fetched again."""
    concurrency: int = 16
    """Predictions of one routed model followed at once."""
    webhooks: bool = True
    """Ask the upstream for webhooks back here, when this server has a public URL."""
    public_url: str | None = None
    """The URL this upstream reaches this server at, for its webhooks; overrides
    ``REPLICAST_PUBLIC_URL`` (an upstream on a private network may need another)."""

    def matches(self, full_name: str) -> bool:
        """Whether ``full_name`` is routed here."""
        return any(fnmatch.fnmatchcase(full_name, p) for p in self.patterns)

    @property
    def exact_names(self) -> tuple[str, ...]:
        """The patterns that name one model (they can be listed)."""
        return tuple(p for p in self.patterns if not is_pattern(p))


def is_pattern(name: str) -> bool:
    """Whether ``name`` has fnmatch wildcards."""
    return any(c in name for c in "*?[")


def match(routes: Sequence[UpstreamRoute], full_name: str) -> UpstreamRoute | None:
    """The first route ``full_name`` matches; an exact name wins over any pattern."""
    for route in routes:
        if full_name in route.exact_names:
            return route
    return next((route for route in routes if route.matches(full_name)), None)


_OPTIONS: dict[str, type] = {
    "copy_outputs": bool, "timeout": float, "download_timeout": float, "retries": int,
    "backoff": float,
    "poll_interval": float, "max_poll_interval": float, "schema_ttl": float,
    "concurrency": int, "webhooks": bool,
}
_KEYS = {"model", "models", "base_url", "token_env", "public_url", *_OPTIONS}


def read_routes_file(path: Path, env: Mapping[str, str]) -> tuple[UpstreamRoute, ...]:
    """The routes in ``path``, with their tokens from ``env``; ``ConfigError`` if malformed."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"REPLICAST_ROUTES: cannot read {path}: {exc.strerror}") from None
    lines: dict[str, int] = {}
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            data = _yaml(text, lines)
        else:
            raise ConfigError(f"REPLICAST_ROUTES: {path} must end in .yaml, .yml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"REPLICAST_ROUTES: {path} is not valid: {exc}") from None
    return parse_routes(data, env, _Where(path, lines))


@dataclass(frozen=True, slots=True)
class _Where:
    path: Path
    lines: dict[str, int]

    def error(self, key: str, problem: str) -> ConfigError:
        line = self.lines.get(key)
        at = f", line {line}" if line is not None else ""
        return ConfigError(f"REPLICAST_ROUTES: {self.path}{at}: {key}: {problem}")


def parse_routes(data: Any, env: Mapping[str, str], where: _Where) -> tuple[UpstreamRoute, ...]:
    """Routes from the file's parsed contents."""
    if not isinstance(data, dict) or set(data) != {"routes"}:
        raise where.error("routes", "the file must hold one key, routes, a list of routes")
    items = data["routes"]
    if not isinstance(items, list) or not items:
        raise where.error("routes", "must be a non-empty list of routes")
    return tuple(_route(item, env, where, f"routes[{i}]") for i, item in enumerate(items))


def _route(item: Any, env: Mapping[str, str], where: _Where, key: str) -> UpstreamRoute:
    if not isinstance(item, dict):
        raise where.error(key, "a route must be a table of keys")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise where.error(f"{key}.{unknown[0]}", "unknown key; a route takes "
                          + ", ".join(sorted(_KEYS)))
    patterns = _patterns(item, where, key)
    base_url = _string(item, "base_url", where, key).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query \
            or parts.username or parts.password:
        raise where.error(f"{key}.base_url", f"{base_url!r} must be an http(s) URL with a "
                          "host, no query and no credentials (the token goes in token_env)")
    token_env = _string(item, "token_env", where, key)
    token = env.get(token_env, "")
    if not token:
        raise where.error(f"{key}.token_env", f"the environment variable {token_env} is not "
                          "set; it must hold the upstream's API token")
    options: dict[str, Any] = {}
    if "public_url" in item:
        options["public_url"] = _public_url(item, where, key)
    for name, kind in _OPTIONS.items():
        if name not in item:
            continue
        value = item[name]
        if not _valid(name, kind, value):
            raise where.error(f"{key}.{name}", f"{value!r} is not a valid {_KIND[name]}")
        options[name] = kind(value)
    return UpstreamRoute(patterns=patterns, base_url=base_url, token_env=token_env,
                         token=token, **options)


_KIND = {name: ("true or false" if kind is bool else "whole number" if kind is int
                else "number of seconds") + (" (at least 0)" if name == "retries" else
                                             " above 0" if kind is not bool else "")
         for name, kind in _OPTIONS.items()}


def _valid(name: str, kind: type, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int if kind is int else int | float):
        return False
    return bool(value >= 0 if name == "retries" else value > 0)


def _patterns(item: dict[str, Any], where: _Where, key: str) -> tuple[str, ...]:
    if ("model" in item) == ("models" in item):
        raise where.error(key, "a route needs model (one name or pattern) or models (a list)")
    raw = [item["model"]] if "model" in item else item["models"]
    name_key = f"{key}.{'model' if 'model' in item else 'models'}"
    if not isinstance(raw, list) or not raw:
        raise where.error(name_key, "must be a non-empty list of names or patterns")
    for pattern in raw:
        owner, slash, name = pattern.partition("/") if isinstance(pattern, str) else ("", "", "")
        if not slash or not owner or not name or "/" in name or not set(
                pattern.replace("/", "").lower()) <= _NAME_CHARS | set("*?[]!"):
            raise where.error(name_key, f"{pattern!r} is not owner/name or a pattern of it")
    return tuple(raw)


def _public_url(item: dict[str, Any], where: _Where, key: str) -> str:
    url = _string(item, "public_url", where, key).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise where.error(f"{key}.public_url", f"{url!r} must be an http(s) URL with a host "
                          "and no query")
    return url


def _string(item: dict[str, Any], name: str, where: _Where, key: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise where.error(f"{key}.{name}", "is required, as text")
    return value


def _yaml(text: str, lines: dict[str, int]) -> Any:
    """The document's data, noting the line each key path starts on (1-based)."""

    def walk(node: yaml.Node, key: str) -> None:
        lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = f"{key}.{key_node.value}" if key else str(key_node.value)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{key}[{i}]")

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return yaml.safe_load(text)
