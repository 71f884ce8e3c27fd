"""The official npm ``replicate`` client under the machine's Node.js."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import TOKEN, ServerProcess

JS = Path(__file__).parents[1] / "js"


@pytest.fixture(scope="module")
def node_modules():
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for the npm client tests: install nodejs")
    if not (JS / "node_modules" / "replicate").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    return JS / "node_modules"


def test_the_npm_client_works_unchanged(server, node_modules):
    result = subprocess.run(
        ["node", "client.mjs"], cwd=JS, capture_output=True, text=True, timeout=300,
        env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["image_type"] == "image/webp" and seen["image_bytes"] > 0
    assert seen["echo"] == "hello from js"
    assert seen["pages"] >= 2 and seen["listed"] >= 105
    assert seen["canceled"] == "canceled"
    assert seen["bad_token_status"] == 401


def test_the_npm_client_uploads_files_and_uses_them_as_inputs(server, node_modules):
    result = subprocess.run(
        ["node", "files.mjs"], cwd=JS, capture_output=True, text=True, timeout=300,
        env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["content_type"] == "application/octet-stream"
    assert seen["download_status"] == 200
    assert seen["downloaded"] == "hello from the npm client\n"
    assert seen["nosniff"] == "nosniff"
    assert seen["tampered_status"] == 404
    assert seen["image_input_logged"] is True
    assert seen["after_delete_status"] == 404


def test_the_npm_clients_file_outputs_read_data_uri_outputs_over_plain_http(tmp_path,
                                                                         node_modules):
    server = ServerProcess(tmp_path / "data",
                           env={"REPLICAST_DATA_URI_OUTPUTS": str(4 * 1024 * 1024)}).start()
    try:
        result = subprocess.run(
            ["node", "data_uris.mjs"], cwd=JS, capture_output=True, text=True, timeout=300,
            env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN},
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert (seen["scheme"], seen["type"]) == ("data:", "image/webp")
    assert seen["listed_scheme"] == "http:"
    assert seen["bytes"] == seen["listed_bytes"] > 0


def test_the_npm_client_reads_a_waiting_predictions_place(tmp_path, node_modules):
    server = ServerProcess(tmp_path / "data", args=["--no-worker"]).start()  # all wait
    try:
        result = subprocess.run(
            ["node", "queue.mjs"], cwd=JS, capture_output=True, text=True, timeout=120,
            env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN},
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == "starting"
    assert seen["before"] == {"position": 3, "estimated_start": None}
    assert seen["after"] == {"position": 2, "estimated_start": None}
