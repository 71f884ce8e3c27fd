#!/usr/bin/env bash
# FLUX speed on one NVIDIA GPU, with random weights at the models' real size: no download,
# no network. Needs PyTorch (CUDA), transformers and accelerate; installs Replicast's other
# dependencies from the wheels beside it (bench/gpu/fetch-wheels.sh fetches them), into
# bench/gpu/.site, only those missing. Then times flux-schnell, FLUX.2 [klein] 4B and
# flux-dev, bf16 and go_fast, at 1, 4 and 8 concurrent clients, batching on then off while
# time is left (about 8 minutes in all), and writes a markdown table and a JSON file.
#
#   bench/gpu/run.sh              # on the GPU machine, from a copy of the repository
#   bench/gpu/run.sh --dry-run    # here: tiny configs, the local .venv, the CPU, ~1 minute
#
# Results go to $RESULTS (default: $OUT if set, else bench/gpu/results/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
results="${RESULTS:-${OUT:-$here/results}}"
site="${SITE:-$here/.site}"
mkdir -p "$results"
began=$(date +%s)
say() { echo "[run.sh $(( $(date +%s) - began )) s] $*"; }

if [ "$dry" = 1 ] && [ -x "$repo/.venv/bin/python" ]; then
    python="${PYTHON:-$repo/.venv/bin/python}"
else
    python="${PYTHON:-python3}"
fi
say "python: $python ($("$python" --version 2>&1))"
"$python" - <<'PY'
import importlib
for name in ("torch", "transformers", "accelerate"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise SystemExit(f"{name} is not installed: this script takes it as found")
    print(f"  {name} {module.__version__}")
import torch
print(f"  CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
PY
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader || true

missing="$("$python" "$here/install.py" "$here/wheels.txt")"
if [ -n "$missing" ] && [ ! -d "$here/wheels" ] && [ "$dry" = 1 ]; then
    say "not installed, and no wheels to install them from: $(echo $missing)"
elif [ -n "$missing" ]; then
    say "installing into $site: $(echo $missing)"
    [ -d "$here/wheels" ] || { echo "no $here/wheels: run bench/gpu/fetch-wheels.sh first" >&2; exit 2; }
    # shellcheck disable=SC2086
    "$python" -m pip install --quiet --no-index --no-deps --find-links "$here/wheels" \
        --target "$site" --upgrade $missing
else
    say "every dependency is installed already"
fi
export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
export TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1
"$python" -c "import diffusers, replicast.models.random_weights; print('  diffusers', diffusers.__version__)"

stamp="$(date -u +%Y%m%d-%H%M%S)"
if [ "$dry" = 1 ]; then
    set -- --random-size tiny --megapixels 0.25 --steps 2 --clients 1,2 --runs 1 --batching on
    name="flux-dry-run-$stamp"
else
    set -- --random-size full --megapixels 1 --clients 1,4,8 --runs 2 --batching on,off \
        --budget-s "${BUDGET_S:-420}"
    name="flux-gpu-$stamp"
fi
say "python -m bench.flux --random-weights $*"
cd "$repo"
status=0
"$python" -m bench.flux --random-weights --models flux-schnell,flux-2-klein-4b,flux-dev \
    --modes bf16,go_fast --json "$results/$name.json" --markdown "$results/$name.md" \
    --port "${PORT:-8473}" "$@" || status=$?
say "results: $results/$name.md and $results/$name.json (exit $status)"
exit "$status"
