"""Webhook URLs given to upstreams: one unguessable token per prediction, checked here."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicast.errors import ConfigError
from replicast.gateway.hooks import HookSigner
from replicast.gateway.routing import UpstreamRoute, read_routes_file
from replicast.http.ratelimits import bucket_for

ROUTE = UpstreamRoute(patterns=("up/*",), base_url="https://up.example", token_env="T", token="t")


def test_the_url_carries_a_token_only_this_key_makes():
    signer = HookSigner("key-one", public_url="https://gw.example/")
    url = signer.url(ROUTE, "abc123")
    assert url is not None and url.startswith("https://gw.example/v1/gateway/hooks/abc123.")
    token = url.rsplit("/", 1)[1]
    assert signer.prediction_id(token) == "abc123"
    assert HookSigner("key-two", public_url=None).prediction_id(token) is None
    mac = token.split(".", 1)[1]
    assert signer.prediction_id(f"abc124.{mac}") is None
    assert signer.url(ROUTE, "abc124") != url


@pytest.mark.parametrize("token", ["", "abc123", ".", "abc123.", "abc123.é", "abc123.x.y"])
def test_malformed_tokens_name_no_prediction(token):
    assert HookSigner("key", public_url=None).prediction_id(token) is None


def test_no_url_without_a_public_url_or_when_the_route_opts_out():
    assert HookSigner("key", public_url=None).url(ROUTE, "abc") is None
    own = UpstreamRoute(patterns=("up/*",), base_url="https://up.example", token_env="T",
                        token="t", public_url="http://10.0.0.5:5000")
    assert HookSigner("key", public_url=None).url(own, "abc").startswith(  # type: ignore[union-attr]
        "http://10.0.0.5:5000/v1/gateway/hooks/abc.")
    off = UpstreamRoute(patterns=("up/*",), base_url="https://up.example", token_env="T",
                        token="t", webhooks=False)
    assert HookSigner("key", public_url="https://gw.example").url(off, "abc") is None


def test_routes_file_takes_webhooks_and_public_url(tmp_path: Path):
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  - model: a/b\n    base_url: https://up.example\n"
                    "    token_env: T\n    webhooks: false\n    public_url: http://gw:5000/\n")
    (route,) = read_routes_file(path, {"T": "t"})
    assert route.webhooks is False and route.public_url == "http://gw:5000"
    path.write_text("routes:\n  - model: a/b\n    base_url: https://up.example\n"
                    "    token_env: T\n    public_url: ftp://gw\n")
    with pytest.raises(ConfigError, match=r"line 5: routes\[0\]\.public_url"):
        read_routes_file(path, {"T": "t"})


def test_hooks_draw_from_no_rate_limit_bucket():
    assert bucket_for("POST", "/v1/gateway/hooks/abc.def") is None
    assert bucket_for("POST", "/v1/predictions") is not None
