import dataclasses
from pathlib import Path

import pytest

from replicast.accounts.account import new_token
from replicast.config import _ENV_NAMES, Settings, parse_flag
from replicast.errors import ConfigError


def test_defaults_need_only_a_home():
    settings = Settings.from_env({"HOME": "/home/u"})
    assert settings.data_dir == Path.home() / ".local" / "share" / "replicast"
    assert settings.store_url == f"sqlite:///{settings.data_dir / 'replicast.db'}"
    assert (settings.host, settings.port, settings.run_worker) == ("127.0.0.1", 8000, True)


def test_variables_are_read_and_parsed():
    settings = Settings.from_env({
        "XDG_DATA_HOME": "/x", "REPLICAST_PORT": "9000", "REPLICAST_WORKER": "no",
        "REPLICAST_PUBLIC_URL": "https://api.example.com/", "REPLICAST_PREDICT_TIMEOUT": "2.5",
    })
    assert settings.data_dir == Path("/x/replicast")
    assert settings.port == 9000 and settings.run_worker is False
    assert settings.public_url == "https://api.example.com"
    assert settings.predict_timeout == 2.5


def test_overrides_win_over_variables():
    settings = Settings.from_env({"REPLICAST_PORT": "9000"}, port=7000, host=None)
    assert settings.port == 7000 and settings.host == "127.0.0.1"


@pytest.mark.parametrize("name,value", [
    ("REPLICAST_PORT", "eighty"), ("REPLICAST_PORT", "70000"), ("REPLICAST_WORKER", "maybe"),
    ("REPLICAST_PREDICT_TIMEOUT", "-1"), ("REPLICAST_PUBLIC_URL", "example.com"),
    ("REPLICAST_LOG_LEVEL", "loud"), ("REPLICAST_TLS_CERTFILE", "/only/the/cert.pem"),
    ("REPLICAST_LORA_MAX_BYTES", "0"), ("REPLICAST_LORA_CACHE_BYTES", "big"),
    ("REPLICAST_LORA_FETCH_TIMEOUT", "-5"), ("REPLICAST_HF_ENDPOINT", "huggingface.co"),
])
def test_errors_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_port_that_is_not_a_number_is_one_plain_line():
    with pytest.raises(ConfigError) as env:
        Settings.from_env({"REPLICAST_PORT": "abc"})
    with pytest.raises(ConfigError) as flag:
        parse_flag("--port", "port", "abc")
    assert str(env.value) == "REPLICAST_PORT='abc' is not valid: expected a whole number"
    assert str(flag.value) == "--port='abc' is not valid: expected a whole number"
    assert parse_flag("--port", "port", "9000") == 9000


def test_every_setting_is_documented():
    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"REPLICAST_{_ENV_NAMES.get(field.name, field.name).upper()}" in text


def test_rate_and_concurrency_limits_are_read_with_replicates_defaults():
    defaults = Settings.from_env({"HOME": "/home/u"})
    assert (defaults.rate_limit_creates, defaults.rate_limit_requests) == (600, 3000)
    assert defaults.rate_limit_burst_seconds == 60 and defaults.max_unfinished_predictions == 0
    assert defaults.rate_limit_auth_failures == 30
    settings = Settings.from_env({
        "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "120",
        "REPLICAST_RATE_LIMIT_BURST_SECONDS": "2.5",
        "REPLICAST_MAX_UNFINISHED_PREDICTIONS": "10",
        "REPLICAST_RATE_LIMIT_AUTH_FAILURES": "0",
    })
    assert (settings.rate_limit_creates, settings.rate_limit_requests) == (0, 120)
    assert settings.rate_limit_burst_seconds == 2.5
    assert settings.max_unfinished_predictions == 10
    assert settings.rate_limit_auth_failures == 0
    for name, value in [("REPLICAST_RATE_LIMIT_CREATES", "-1"),
                        ("REPLICAST_RATE_LIMIT_REQUESTS", "many"),
                        ("REPLICAST_RATE_LIMIT_BURST_SECONDS", "0"),
                        ("REPLICAST_RATE_LIMIT_AUTH_FAILURES", "-3"),
                        ("REPLICAST_RATE_LIMIT_AUTH_FAILURES", "30/min"),
                        ("REPLICAST_MAX_UNFINISHED_PREDICTIONS", "-5")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


def test_file_limits_are_read_with_replicates_defaults():
    defaults = Settings.from_env({"HOME": "/home/u"})
    assert defaults.max_file_bytes == 100 * 1024 * 1024
    assert defaults.file_retention == 24 * 3600
    assert defaults.files_dir == defaults.data_dir / "files"
    settings = Settings.from_env({"REPLICAST_MAX_FILE_BYTES": "1024",
                                  "REPLICAST_FILE_RETENTION": "1h30m"})
    assert (settings.max_file_bytes, settings.file_retention) == (1024, 5400)
    assert Settings.from_env({"REPLICAST_FILE_RETENTION": "0"}).file_retention == 0
    for name, value in [("REPLICAST_MAX_FILE_BYTES", "0"), ("REPLICAST_MAX_FILE_BYTES", "1MB"),
                        ("REPLICAST_FILE_RETENTION", "-1"), ("REPLICAST_FILE_RETENTION", "soon")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


@pytest.mark.parametrize("token", [
    "secret",
    "r8_Ab3dEfGh1jKlMnOpQrStUvWxYz",  # 29 characters
    "r8_" + "x" * 37,  # long enough, but 4 different characters
    "abcdefghi" * 4,  # 36 characters, 9 different ones
])
def test_a_weak_api_token_is_refused(token):
    with pytest.raises(ConfigError, match="REPLICAST_API_TOKEN is too weak") as refused:
        Settings.from_env({"REPLICAST_API_TOKEN": token})
    message = str(refused.value)
    assert "\n" not in message and token not in message
    assert "32 characters" in message and "10 different" in message


@pytest.mark.parametrize("token", [new_token(), "0123456789" * 4, "r8_" + "0123456789" * 3])
def test_a_strong_enough_api_token_is_taken(token):
    assert Settings.from_env({"REPLICAST_API_TOKEN": token}).api_token == token


def test_trusted_proxies_are_addresses_or_networks():
    assert Settings.from_env({}).trusted_proxies == ()
    settings = Settings.from_env({"REPLICAST_TRUSTED_PROXIES": " 10.1.2.3/8, 172.31.250.250,,::1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "172.31.250.250", "::1")
    for value in ["nginx", "10.0.0.0/33", "*"]:
        with pytest.raises(ConfigError, match="REPLICAST_TRUSTED_PROXIES"):
            Settings.from_env({"REPLICAST_TRUSTED_PROXIES": value})


def test_the_metrics_token_is_optional_and_must_be_strong():
    assert Settings.from_env({}).metrics_token is None
    token = new_token()
    assert Settings.from_env({"REPLICAST_METRICS_TOKEN": token}).metrics_token == token
    with pytest.raises(ConfigError, match="REPLICAST_METRICS_TOKEN is too weak"):
        Settings.from_env({"REPLICAST_METRICS_TOKEN": "prometheus"})


def test_edge_limits_are_read_with_their_defaults():
    defaults = Settings.from_env({"HOME": "/home/u"})
    assert (defaults.max_header_bytes, defaults.max_headers) == (64 * 1024, 100)
    assert (defaults.header_timeout, defaults.body_timeout, defaults.body_min_rate) == \
        (10, 30, 1024)
    assert (defaults.max_connections, defaults.max_connections_per_client) == (1000, 500)
    settings = Settings.from_env({
        "REPLICAST_MAX_HEADER_BYTES": "8192", "REPLICAST_MAX_HEADERS": "20",
        "REPLICAST_HEADER_TIMEOUT": "2.5", "REPLICAST_BODY_TIMEOUT": "5",
        "REPLICAST_BODY_MIN_RATE": "0", "REPLICAST_MAX_CONNECTIONS": "0",
        "REPLICAST_MAX_CONNECTIONS_PER_CLIENT": "10",
    })
    assert (settings.max_header_bytes, settings.max_headers) == (8192, 20)
    assert (settings.header_timeout, settings.body_timeout, settings.body_min_rate) == \
        (2.5, 5, 0)
    assert (settings.max_connections, settings.max_connections_per_client) == (0, 10)
    for name, value, says in [
            ("REPLICAST_MAX_HEADER_BYTES", "100", "must be at least 1024"),
            ("REPLICAST_MAX_HEADER_BYTES", "64k", "expected a whole number"),
            ("REPLICAST_MAX_HEADERS", "0", "greater than zero"),
            ("REPLICAST_HEADER_TIMEOUT", "0", "greater than zero"),
            ("REPLICAST_BODY_TIMEOUT", "soon", "expected a number$"),
            ("REPLICAST_BODY_MIN_RATE", "-1", "must not be negative"),
            ("REPLICAST_MAX_CONNECTIONS", "-1", "must not be negative"),
            ("REPLICAST_MAX_CONNECTIONS_PER_CLIENT", "1.5", "expected a whole number")]:
        with pytest.raises(ConfigError, match=f"{name}=.*{says}"):
            Settings.from_env({name: value})


def test_lora_settings():
    settings = Settings.from_env({"XDG_DATA_HOME": "/x"})
    assert settings.lora_cache == Path("/x/replicast/loras")
    assert (settings.lora_max_bytes, settings.lora_cache_bytes) == (2 * 1024**3, 20 * 1024**3)
    assert settings.hf_endpoint == "https://huggingface.co"
    settings = Settings.from_env({"REPLICAST_LORA_CACHE_DIR": "/cache/loras",
                                  "REPLICAST_LORA_MAX_BYTES": "1000",
                                  "REPLICAST_LORA_CACHE_BYTES": "5000",
                                  "HF_ENDPOINT": "https://mirror.example/"})
    assert settings.lora_cache == Path("/cache/loras")
    assert settings.hf_endpoint == "https://mirror.example"  # huggingface_hub's variable
    assert Settings.from_env({"HF_ENDPOINT": "https://mirror.example",
                              "REPLICAST_HF_ENDPOINT": "http://hub.local"}
                             ).hf_endpoint == "http://hub.local"


def test_the_lora_cache_must_hold_the_largest_lora():
    with pytest.raises(ConfigError, match="REPLICAST_LORA_CACHE_BYTES=10 must be at least "
                                          "REPLICAST_LORA_MAX_BYTES=20"):
        Settings.from_env({"REPLICAST_LORA_MAX_BYTES": "20", "REPLICAST_LORA_CACHE_BYTES": "10"})
