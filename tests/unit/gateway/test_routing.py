"""The routes file: both formats, every refusal naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.gateway.routing import UpstreamRoute, is_pattern, match, read_routes_file

ENV = {"UP_TOKEN": "r8_upstreamtoken0000000000000"}

YAML = """\
routes:
  - models: ["black-forest-labs/*", acme/upscaler]
    base_url: https://api.replicate.com/
    token_env: UP_TOKEN
  - model: other/thing
    base_url: https://api.cometapi.com/replicate
    token_env: UP_TOKEN
    copy_outputs: false
    timeout: 12.5
    download_timeout: 90
    retries: 0
"""

TOML = """\
[[routes]]
models = ["black-forest-labs/*", "acme/upscaler"]
base_url = "https://api.replicate.com/"
token_env = "UP_TOKEN"

[[routes]]
model = "other/thing"
base_url = "https://api.cometapi.com/replicate"
token_env = "UP_TOKEN"
copy_outputs = false
timeout = 12.5
download_timeout = 90
retries = 0
"""


@pytest.mark.parametrize(("name", "text"), [("routes.yaml", YAML), ("routes.toml", TOML)])
def test_both_formats_read_the_same(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    first, second = read_routes_file(path, ENV)
    assert first.patterns == ("black-forest-labs/*", "acme/upscaler")
    assert first.base_url == "https://api.replicate.com"
    assert first.token == ENV["UP_TOKEN"] and first.copy_outputs is True
    assert second.patterns == ("other/thing",) and second.copy_outputs is False
    assert second.timeout == 12.5 and second.retries == 0
    assert first.download_timeout == 600.0 and second.download_timeout == 90.0
    assert ENV["UP_TOKEN"] not in repr(first)


def test_settings_read_the_routes_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(YAML)
    settings = Settings.from_env({"REPLICAST_DATA_DIR": str(tmp_path),
                                  "REPLICAST_ROUTES": str(path), **ENV})
    assert settings.routes_file == path and len(settings.routes) == 2
    assert Settings.from_env({"REPLICAST_DATA_DIR": str(tmp_path)}).routes == ()


def _error(tmp_path: Path, text: str, name: str = "routes.yaml",
           env: dict[str, str] | None = None) -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        read_routes_file(path, ENV if env is None else env)
    message = str(raised.value)
    assert message.startswith(f"REPLICAST_ROUTES: {path}")
    return message


def test_a_missing_token_variable_names_it_and_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, YAML, env={})
    assert "line 4" in message and "routes[0].token_env" in message and "UP_TOKEN" in message


def test_a_bad_value_names_its_key_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, YAML.replace("timeout: 12.5", "timeout: soon"))
    assert "line 9" in message and "routes[1].timeout" in message and "'soon'" in message


def test_toml_errors_name_the_key(tmp_path: Path) -> None:
    message = _error(tmp_path, TOML.replace('token_env = "UP_TOKEN"\ncopy', 'copy'),
                     name="routes.toml")
    assert "routes[1].token_env" in message and "required" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("routes: []\n", "non-empty list"),
    ("other: 1\n", "one key, routes"),
    ("routes:\n  - model: x/y\n    base_url: ftp://host\n    token_env: UP_TOKEN\n",
     "http(s) URL"),
    ("routes:\n  - model: x/y\n    base_url: https://u:p@host\n    token_env: UP_TOKEN\n",
     "no credentials"),
    ("routes:\n  - model: nothing\n    base_url: https://host\n    token_env: UP_TOKEN\n",
     "not owner/name"),
    ("routes:\n  - base_url: https://host\n    token_env: UP_TOKEN\n", "needs model"),
    ("routes:\n  - model: x/y\n    base_url: https://host\n    token_env: UP_TOKEN\n"
     "    token: r8_inline\n", "unknown key"),
    ("routes:\n  - model: x/y\n    base_url: https://host\n    token_env: UP_TOKEN\n"
     "    copy_outputs: 1\n", "true or false"),
    ("routes: [\n", "not valid"),
])
def test_malformed_files_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_other_suffixes_are_refused(tmp_path: Path) -> None:
    assert ".yaml, .yml or .toml" in _error(tmp_path, YAML, name="routes.json")


def test_an_exact_name_wins_over_an_earlier_pattern() -> None:
    wide = UpstreamRoute(("acme/*",), "https://a", "T")
    exact = UpstreamRoute(("acme/special",), "https://b", "T")
    routes = [wide, exact]
    assert match(routes, "acme/special") is exact
    assert match(routes, "acme/other") is wide
    assert match(routes, "acmex/other") is None
    assert match(routes, "ACME/other") is None  # names are case-sensitive, as paths are
    assert wide.exact_names == () and exact.exact_names == ("acme/special",)
    assert is_pattern("a/b?") and is_pattern("a/[bc]") and not is_pattern("a/b")
