"""Gateway mode: what a routed model's output makes the gateway fetch.

The upstream is a second, real Replicast on loopback: a route to a private address,
on a gateway that does not allow private URLs otherwise. Its models return URLs of the
caller's choosing, as text and where their schema declares a file. Only declared files
are copied, and only from the upstream's own origin: a counting listener elsewhere on
the machine, the gateway's own metrics and the metadata address are never reached.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.listener import Listener
from tests.support.server import ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"
UPSTREAM_TOKEN = "r8_UpstreamTokenForTheOutputCopyTests00000"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def _predictor(ref: str, name: str) -> list[str]:
    return ["--predictor", str(PREDICTORS / ref), "--model-name", name]


@pytest.fixture(scope="module")
def listener():
    listening = Listener()
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def redirector(listener):
    """Redirects every request to the counting listener."""
    listening = Listener(redirect_to=f"http://127.0.0.1:{listener.port}/moved.png")
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("upstream"), token=UPSTREAM_TOKEN,
        env={"REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"},
        args=[*_predictor("links.py:Text", "up/links"),
              *_predictor("links.py:Declared", "up/declared"),
              *_predictor("outputs.py:Object", "up/object")],
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    folder = tmp_path_factory.mktemp("gateway")
    routes = folder / "routes.yaml"
    routes.write_text(
        f"routes:\n  - model: 'up/*'\n    base_url: {upstream.base_url}\n"
        "    token_env: UPSTREAM_TOKEN\n    retries: 1\n    backoff: 0.1\n"
        "    poll_interval: 0.05\n    max_poll_interval: 0.2\n")
    process = ServerProcess(folder, env={
        "REPLICAST_ROUTES": str(routes), "UPSTREAM_TOKEN": UPSTREAM_TOKEN,
        "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(gateway):
    with gateway.client() as http:
        yield http


def run(http, model: str, input: dict) -> dict:
    created = http.post(f"/v1/models/{model}/predictions", json={"input": input},
                        headers={"Prefer": "wait=30"})
    assert created.status_code == 201, created.text
    prediction = created.json()
    give_up = time.monotonic() + 30
    while prediction["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < give_up, prediction
        prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
    return prediction


def test_url_shaped_text_stays_text_and_nothing_is_fetched(http, gateway, upstream,
                                                           listener):
    links = [f"http://127.0.0.1:{listener.port}/secret.png",
             f"{gateway.base_url}/metrics", METADATA,
             f"{upstream.base_url}/v1/predictions"]  # even the upstream's own origin
    prediction = run(http, "up/links", {"links": links})
    assert prediction["status"] == "succeeded", prediction["error"]
    assert prediction["output"] == links
    assert listener.connections == 0


def test_declared_files_are_copied_and_the_text_beside_them_is_not(http, gateway,
                                                                   listener):
    caption = f"http://127.0.0.1:{listener.port}/caption.png"
    prediction = run(http, "up/object", {"caption": caption})
    assert prediction["status"] == "succeeded", prediction["error"]
    output = prediction["output"]
    assert output["caption"] == caption
    assert output["image"].startswith(f"{gateway.base_url}/outputs/")
    assert listener.connections == 0


@pytest.mark.parametrize("target", ["redirector", "listener", "metrics", "metadata"])
def test_a_declared_file_elsewhere_is_refused(http, gateway, listener, redirector, target):
    link = {"redirector": f"http://127.0.0.1:{redirector.port}/out.png",
            "listener": f"http://127.0.0.1:{listener.port}/out.png",
            "metrics": f"{gateway.base_url}/metrics",
            "metadata": METADATA}[target]
    prediction = run(http, "up/declared", {"link": link})
    assert prediction["status"] == "failed"
    assert f"Could not download the output file {link}" in prediction["error"]
    reason = "never reached" if target == "metadata" else "not a public address"
    assert reason in prediction["error"]
    assert (redirector.connections, listener.connections) == (0, 0)
