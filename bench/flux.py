"""``python -m bench.flux``: FLUX images per second through Replicast, beside the floor.

For each model it starts ``replicast serve`` with that one model real (the others
stand-ins, so that one GPU holds it): loaded from ``REPLICAST_WEIGHTS_DIR``, or, with
``--random-weights``, built at its real size with random weights (the same speed, no
download). For each mode (bf16, go_fast) it sends one untimed prediction (go_fast
compiles on its first call), then, for each number of concurrent clients, lets every
client send ``--runs`` predictions one after the other, with ``Prefer: wait``.

Reported per cell: images per second (all images over the cell's wall time), seconds per
image (the median prediction's ``predict_time`` over its images: denoising, decoding and
encoding) and the median latency a client saw. The floor is the transformer's
floating-point work (counted in docs/benchmarks.md) at the GPU's dense peak. With
``REPLICAST_BATCHING`` in this build, ``--batching on,off`` serves each model both ways.
``--budget-s`` skips what would not fit in the time left, and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.servers import TOKEN

OWNER = "black-forest-labs"
# Transformer TFLOP per step of a 1024x1024 image (the reference's exact counts): schnell
# 69.5 (256 text tokens), dev 74.4 (512).
STEP_TFLOP = {"flux-schnell": 69.5, "flux-dev": 74.4}
# Dense peak TFLOP/s (bf16, fp8) by GPU name.
PEAKS = {"H100": (989.0, 1979.0), "H200": (989.0, 1979.0), "A100": (312.0, None),
         "L40S": (362.0, 733.0)}
MODELS: dict[str, dict[str, Any]] = {
    "flux-schnell": {"num_inference_steps": 4, "num_outputs": 1, "megapixels": "{mp}"},
    "flux-dev": {"num_inference_steps": 28, "num_outputs": 1, "megapixels": "{mp}"},
    "flux-2-klein-4b": {"output_megapixels": "{mp}"},
    "flux-2-klein-9b": {"megapixels": "{mp}"},
    "flux-2-dev": {},
}
"""The inputs each model is timed with (besides prompt, seed, go_fast, output format);
``{mp}``: ``--megapixels``. FLUX.2 [dev] runs at its default size, 1024x1024."""
MODES = {"bf16": False, "go_fast": True}
PROMPT = "a paper boat on calm water at sunrise"


@dataclasses.dataclass
class Cell:
    """One measurement: a model, mode, batching setting and number of clients."""

    model: str
    mode: str
    batching: str
    clients: int
    requests: int = 0
    succeeded: int = 0
    images: int = 0
    wall_s: float | None = None
    images_per_s: float | None = None
    s_per_image: float | None = None
    latency_p50_s: float | None = None
    first_call_s: float | None = None
    floor_bf16_s: float | None = None
    floor_fp8_s: float | None = None
    note: str = ""


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flux", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--random-weights", action="store_true",
                        help="build each model at its real size with random weights instead "
                             "of loading REPLICAST_WEIGHTS_DIR (REPLICAST_RANDOM_WEIGHTS)")
    parser.add_argument("--random-size", choices=["full", "tiny"], default="full",
                        help="tiny: the same architectures a few thousand parameters wide, "
                             "for a dry run on a CPU (REPLICAST_RANDOM_WEIGHTS_SIZE)")
    parser.add_argument("--models", type=_list, default=["flux-schnell", "flux-dev"],
                        help=f"comma-separated, of {', '.join(MODELS)} "
                             "(default flux-schnell,flux-dev)")
    parser.add_argument("--modes", type=_list, default=list(MODES),
                        help="comma-separated: bf16, go_fast (default both)")
    parser.add_argument("--clients", type=lambda raw: [int(n) for n in _list(raw)],
                        default=[1], help="comma-separated numbers of concurrent clients, "
                                          "like 1,4,8 (default 1)")
    parser.add_argument("--batching", type=_list, default=["default"],
                        help="comma-separated on/off: serve each model with "
                             "REPLICAST_BATCHING so (default: the server's default)")
    parser.add_argument("--runs", type=int, default=3,
                        help="predictions each client sends per cell (default 3)")
    parser.add_argument("--megapixels", default="1", help="1 (default) or 0.25")
    parser.add_argument("--steps", type=int,
                        help="denoising steps of the models that take them (default: "
                             "schnell 4, dev 28)")
    parser.add_argument("--warm-up", action="store_true",
                        help="let the server warm every size at setup (REPLICAST_WARM_UP); "
                             "by default it warms only the size timed, by the first call")
    parser.add_argument("--budget-s", type=float, default=0.0,
                        help="skip what would end past this many seconds from the start "
                             "(0: no limit)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--port", type=int, default=8473)
    args = parser.parse_args(argv)
    for model in args.models:
        if model not in MODELS:
            parser.error(f"unknown model {model}; known: {', '.join(MODELS)}")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode}; known: {', '.join(MODES)}")
    for setting in args.batching:
        if setting not in {"on", "off", "default"}:
            parser.error("--batching takes on, off or default")
    return args


def gpu() -> tuple[str, tuple[float, float | None] | None]:
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no NVIDIA GPU (CPU)", None
    peak = next((value for key, value in PEAKS.items() if key in name), None)
    return name, peak


class Clock:
    """Seconds since the start, and what fits in the budget."""

    def __init__(self, budget_s: float) -> None:
        self.began = time.monotonic()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def fits(self, seconds: float) -> bool:
        return not self.budget_s or self.elapsed() + seconds <= self.budget_s

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {text}", flush=True)


def _settings_fields() -> set[str]:
    from replicast.config import Settings

    return {field.name for field in dataclasses.fields(Settings)}


def _server_env(args: argparse.Namespace, model: str, batching: str,
                data: Path) -> dict[str, str]:
    from replicast.models import catalog

    full = f"{OWNER}/{model}"
    others = [name for name, spec in catalog.SPECS.items()
              if name != full and spec.runs_on is not None]
    env = {**os.environ, "REPLICAST_DATA_DIR": str(data), "REPLICAST_API_TOKEN": TOKEN,
           "REPLICAST_MODEL_BACKENDS": ",".join(f"{name}=stand-in" for name in others)}
    if args.random_weights:
        env["REPLICAST_RANDOM_WEIGHTS"] = full
        env["REPLICAST_RANDOM_WEIGHTS_SIZE"] = args.random_size
    fields = _settings_fields()
    if batching != "default" and "batching" in fields:
        env["REPLICAST_BATCHING"] = "true" if batching == "on" else "false"
    if "warm_up" in fields and not args.warm_up:
        env["REPLICAST_WARM_UP"] = "false"
    return env


@contextmanager
def _server(args: argparse.Namespace, model: str, batching: str,
            clock: Clock) -> Iterator[httpx.Client]:
    data = Path(tempfile.mkdtemp(prefix="replicast-flux-bench-"))
    log_path = data / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "replicast", "serve", "--port", str(args.port)],
            env=_server_env(args, model, batching, data), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{args.port}"
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": "wait=60"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=3600) as http:
            described = _ready(http, server, model, log_path)
            weights = described.get("weights") or {}
            clock.say(f"{model}: server ready (served by {described.get('served_by')}, "
                      f"random weights: {bool(weights.get('random'))}); log in {log_path}")
            yield http
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _ready(http: httpx.Client, server: subprocess.Popen[bytes], model: str,
           log_path: Path) -> dict[str, Any]:
    while True:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server exited ({server.returncode}):\n{tail}")
        try:
            answer = http.get(f"/v1/models/{OWNER}/{model}")
            if answer.status_code == 200:
                described: dict[str, Any] = answer.json()
                return described
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def _inputs(model: str, go_fast: bool, megapixels: str, steps: int | None) -> dict[str, Any]:
    inputs = {name: value.format(mp=megapixels) if isinstance(value, str) else value
              for name, value in MODELS[model].items()}
    if steps is not None and "num_inference_steps" in inputs:
        inputs["num_inference_steps"] = steps
    return {"prompt": PROMPT, "seed": 1, "output_format": "jpg", "go_fast": go_fast, **inputs}


def _predict(http: httpx.Client, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """One prediction, to its end: its JSON, with the latency the client saw."""
    began = time.monotonic()
    answer = http.post(f"/v1/models/{OWNER}/{model}/predictions", json={"input": inputs})
    prediction: dict[str, Any] = answer.json()
    if answer.status_code >= 400:
        return {"status": "failed", "error": prediction, "latency": 0.0}
    while prediction["status"] not in {"succeeded", "failed", "canceled", "aborted"}:
        time.sleep(0.2)
        prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
    prediction["latency"] = time.monotonic() - began
    return prediction


def _images(prediction: dict[str, Any]) -> int:
    output = prediction.get("output")
    return len(output) if isinstance(output, list) else int(output is not None)


def _measure(http: httpx.Client, cell: Cell, inputs: dict[str, Any], runs: int) -> None:
    def client(_: int) -> list[dict[str, Any]]:
        return [_predict(http, cell.model, inputs) for _ in range(runs)]

    began = time.monotonic()
    with ThreadPoolExecutor(cell.clients) as pool:
        done = [p for batch in pool.map(client, range(cell.clients)) for p in batch]
    cell.wall_s = time.monotonic() - began
    ok = [p for p in done if p["status"] == "succeeded" and _images(p)]
    cell.requests, cell.succeeded = len(done), len(ok)
    cell.images = sum(_images(p) for p in ok)
    if not ok:
        cell.note = "failed: " + str(done[0].get("error"))[:200]
        return
    cell.images_per_s = cell.images / cell.wall_s
    cell.s_per_image = statistics.median(p["metrics"]["predict_time"] / _images(p) for p in ok)
    cell.latency_p50_s = statistics.median(p["latency"] for p in ok)
    if len(ok) < len(done):
        cell.note = f"{len(done) - len(ok)} failed"


def _floors(cell: Cell, peak: tuple[float, float | None] | None, megapixels: str,
            inputs: dict[str, Any]) -> None:
    per_step = STEP_TFLOP.get(cell.model)
    if per_step is None or peak is None or megapixels != "1":
        return
    work = per_step * inputs["num_inference_steps"]
    cell.floor_bf16_s = work / peak[0]
    if peak[1] is not None:
        cell.floor_fp8_s = work / peak[1]


def _serve_and_measure(args: argparse.Namespace, model: str, batching: str, clock: Clock,
                       peak: tuple[float, float | None] | None, cells: list[Cell]) -> None:
    with _server(args, model, batching, clock) as http:
        for mode in args.modes:
            inputs = _inputs(model, MODES[mode], args.megapixels, args.steps)
            row = [Cell(model, mode, batching, clients) for clients in args.clients]
            cells.extend(row)
            if not clock.fits(5):
                for cell in row:
                    cell.note = "skipped: time budget"
                continue
            clock.say(f"{model} {mode}: first call (go_fast compiles here)")
            first = _predict(http, model, inputs)
            if first["status"] != "succeeded":
                for cell in row:
                    cell.note = "failed: " + str(first.get("error"))[:200]
                clock.say(f"{model} {mode}: first call failed: {first.get('error')}")
                continue
            warm = _predict(http, model, inputs)["latency"]
            clock.say(f"{model} {mode}: first call {first['latency']:.2f} s, then {warm:.2f} s")
            for cell in row:
                cell.first_call_s = first["latency"]
                _floors(cell, peak, args.megapixels, inputs)
                # Worst case: the GPU runs the cell's predictions one after the other.
                if not clock.fits(warm * args.runs * cell.clients + 2):
                    cell.note = "skipped: time budget"
                    clock.say(f"{model} {mode} {cell.clients} client(s): skipped (time budget)")
                    continue
                _measure(http, cell, inputs, args.runs)
                clock.say(f"{model} {mode} batching {batching} {cell.clients} client(s): "
                          f"{cell.images} images in {cell.wall_s:.2f} s, "
                          f"{_number(cell.images_per_s)} images/s, "
                          f"{_number(cell.s_per_image)} s per image {cell.note}")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def table(cells: list[Cell]) -> str:
    """The results as a markdown table."""
    lines = ["| model | mode | batching | clients | images | images/s | s per image (median "
             "predict_time) | latency p50 s | first call s | floor bf16 s | floor fp8 s | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in cells:
        lines.append(f"| {c.model} | {c.mode} | {c.batching} | {c.clients} | {c.images} | "
                     f"{_number(c.images_per_s)} | {_number(c.s_per_image)} | "
                     f"{_number(c.latency_p50_s)} | {_number(c.first_call_s)} | "
                     f"{_number(c.floor_bf16_s)} | {_number(c.floor_fp8_s)} | {c.note} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.random_weights:
        weights = os.environ.get("REPLICAST_WEIGHTS_DIR")
        if not weights or not Path(weights).is_dir():
            raise SystemExit("set REPLICAST_WEIGHTS_DIR to a folder with the FLUX weights, "
                             "or pass --random-weights")
    if "batching" not in _settings_fields() and args.batching != ["default"]:
        print("this build has no REPLICAST_BATCHING: --batching ignored", flush=True)
        args.batching = ["default"]
    name, peak = gpu()
    clock = Clock(args.budget_s)
    source = (f"random weights ({args.random_size} size)" if args.random_weights
              else f"weights in {os.environ['REPLICAST_WEIGHTS_DIR']}")
    header = (f"GPU: {name}; {source}; {args.runs} predictions per client per cell, after "
              f"one untimed first call per mode; {args.megapixels} MP images")
    clock.say(header)
    cells: list[Cell] = []
    # Every model once first, then the other batching settings while time is left.
    for batching in args.batching:
        for model in args.models:
            if not clock.fits(60):
                cells.extend(Cell(model, mode, batching, clients, note="skipped: time budget")
                             for mode in args.modes for clients in args.clients)
                clock.say(f"{model} batching {batching}: skipped (time budget)")
                continue
            clock.say(f"{model}: starting a server (batching {batching})")
            try:
                _serve_and_measure(args, model, batching, clock, peak, cells)
            except RuntimeError as exc:
                clock.say(f"{model}: {exc}")
                cells.append(Cell(model, "-", batching, 0, note=f"server failed: {exc}"[:300]))
    markdown = table(cells)
    print(header)
    print(markdown, flush=True)
    if args.markdown:
        args.markdown.write_text(header + "\n\n" + markdown)
    if args.json:
        args.json.write_text(json.dumps({
            "gpu": name, "weights": source, "random_weights": args.random_weights,
            "python": platform.python_version(), "runs": args.runs,
            "megapixels": args.megapixels, "seconds": round(clock.elapsed(), 1),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "cells": [dataclasses.asdict(cell) for cell in cells],
        }, indent=2) + "\n")
    clock.say("done")
    failed = [c for c in cells if c.note.startswith(("failed", "server failed"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
