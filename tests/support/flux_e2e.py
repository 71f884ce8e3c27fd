"""What the FLUX end-to-end tests share: tiny weights, requests, images, a mid-run cancel."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

ROOT = Path(__file__).parents[2]


def build_weights(folder: Path, safety: str | None = None, family: str = "flux1") -> Path:
    """A ``REPLICAST_WEIGHTS_DIR`` of tiny models (``tiny_flux``), built in a subprocess."""
    command = [sys.executable, "-m", "tests.support.tiny_flux", str(folder),
               *([safety] if safety else []), "--family", family]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
    return folder


def file_at(url: str) -> bytes:
    response = httpx.get(url)
    assert response.status_code == 200
    return response.content


def image_at(url: str) -> Image.Image:
    return Image.open(io.BytesIO(file_at(url)))


def png_data_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def run(http: httpx.Client, model: str, **input: Any) -> dict[str, Any]:
    """Create a prediction and wait for it."""
    response = http.post(f"/v1/models/{model}/predictions", json={"input": input},
                         headers={"Prefer": "wait"})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def logged_steps(logs: str) -> list[str]:
    """The ``done/total`` of each progress line in ``logs``."""
    return re.findall(r"^\s*\d+%\|.*\| (\d+/\d+)", logs, re.MULTILINE)


def cancel_once_running(http: httpx.Client, model: str, **input: Any) -> str:
    """Create a prediction of 50 steps, cancel it once its first step is logged; its id."""
    created = http.post(f"/v1/models/{model}/predictions", json={"input": input}).json()
    for _ in range(3000):
        current = http.get(f"/v1/predictions/{created['id']}").json()
        if "1/50" in current["logs"]:
            break
        time.sleep(0.01)
    else:
        raise AssertionError(current)
    canceled = http.post(f"/v1/predictions/{created['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    return str(created["id"])


def assert_seeds_reproduce(http: httpx.Client, model: str, **input: Any) -> None:
    """The same seed gives the same bytes, another seed others; a missing one is drawn and
    logged once."""
    def once(**seed: Any) -> tuple[dict[str, Any], bytes]:
        done = run(http, model, **input, **seed)
        output = done["output"]
        return done, file_at(output if isinstance(output, str) else output[0])

    first, a = once(seed=42)
    _, b = once(seed=42)
    _, c = once(seed=43)
    assert a == b != c
    assert "Using seed: 42\n" in first["logs"]
    drawn, _ = once()
    assert len(re.findall(r"^Using seed: \d+$", drawn["logs"], re.MULTILINE)) == 1
