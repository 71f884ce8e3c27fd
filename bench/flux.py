"""``python -m bench.flux``: seconds per FLUX image through Replicast, beside the floor.

Starts ``replicast serve`` on the weights in ``REPLICAST_WEIGHTS_DIR`` (diffusers'
layout: black-forest-labs/FLUX.1-schnell and FLUX.1-dev saved under
``black-forest-labs/flux-schnell`` and ``black-forest-labs/flux-dev``), warms every
configuration (go_fast compiles on its first call), then times each one with
``Prefer: wait``. Seconds per image are the prediction's ``predict_time`` (denoising,
decoding, encoding) divided by its images. The floor is the transformer's
floating-point work (counted in docs/benchmarks.md) at the GPU's dense peak.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import TOKEN

# Transformer TFLOP per image (the reference's exact counts): schnell 4 steps of 69.5,
# dev 28 steps of 74.4 at 1024x1024.
WORK_TFLOP = {"schnell": 4 * 69.5, "dev": 28 * 74.4}
# Dense peak TFLOP/s (bf16, fp8) by GPU name.
PEAKS = {"H100": (989.0, 1979.0), "H200": (989.0, 1979.0), "A100": (312.0, None),
         "L40S": (362.0, 733.0)}

CONFIGS = [
    ("flux-schnell, 1024x1024, 4 steps, bf16", "flux-schnell", "schnell",
     {"num_inference_steps": 4, "go_fast": False, "num_outputs": 1}),
    ("flux-schnell, 1024x1024, 4 steps, bf16, batch 4", "flux-schnell", "schnell",
     {"num_inference_steps": 4, "go_fast": False, "num_outputs": 4}),
    ("flux-schnell, 1024x1024, 4 steps, go_fast", "flux-schnell", "schnell",
     {"num_inference_steps": 4, "go_fast": True, "num_outputs": 1}),
    ("flux-schnell, 1024x1024, 4 steps, go_fast, batch 4", "flux-schnell", "schnell",
     {"num_inference_steps": 4, "go_fast": True, "num_outputs": 4}),
    ("flux-dev, 1024x1024, 28 steps, bf16", "flux-dev", "dev",
     {"num_inference_steps": 28, "go_fast": False, "num_outputs": 1}),
    ("flux-dev, 1024x1024, 28 steps, go_fast", "flux-dev", "dev",
     {"num_inference_steps": 28, "go_fast": True, "num_outputs": 1}),
]


def gpu() -> tuple[str, tuple[float, float | None] | None]:
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no NVIDIA GPU (CPU)", None
    peak = next((value for key, value in PEAKS.items() if key in name), None)
    return name, peak


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flux", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per configuration")
    parser.add_argument("--port", type=int, default=8473)
    args = parser.parse_args()
    weights = os.environ.get("REPLICAST_WEIGHTS_DIR")
    if not weights or not Path(weights).is_dir():
        raise SystemExit("set REPLICAST_WEIGHTS_DIR to a folder with the FLUX weights")
    name, peak = gpu()
    data = Path(tempfile.mkdtemp(prefix="replicast-flux-bench-"))
    env = {**os.environ, "REPLICAST_DATA_DIR": str(data), "REPLICAST_API_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "-m", "replicast", "serve", "--port",
                               str(args.port)], env=env, stdout=open(data / "log", "wb"),  # noqa: SIM115
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{args.port}"
    rows = []
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Prefer": "wait=60"}, timeout=3600) as http:
            for _ in range(1200):
                try:
                    if http.get("/openapi.json").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            for label, model, kind, inputs in CONFIGS:
                body = {"input": {"prompt": "a paper boat on calm water at sunrise",
                                  "seed": 1, "output_format": "jpg", **inputs}}
                path = f"/v1/models/black-forest-labs/{model}/predictions"
                warm = http.post(path, json=body).json()
                if warm["status"] != "succeeded":
                    rows.append((label, "failed: " + str(warm.get("error")), "", ""))
                    continue
                per_image = []
                for _ in range(args.runs):
                    done = http.post(path, json=body).json()
                    per_image.append(done["metrics"]["predict_time"] / len(done["output"]))
                floor_bf16 = floor_fp8 = ""
                if peak is not None:
                    floor_bf16 = f"{WORK_TFLOP[kind] / peak[0]:.3f}"
                    if peak[1] is not None:
                        floor_fp8 = f"{WORK_TFLOP[kind] / peak[1]:.3f}"
                rows.append((label, f"{statistics.median(per_image):.3f}", floor_bf16,
                             floor_fp8))
    finally:
        server.terminate()
        server.wait(60)
    print(f"GPU: {name}; weights: {weights}; {args.runs} timed runs after one warm-up")
    print("| configuration | s per image (median) | floor, bf16 peak | floor, fp8 peak |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
