#!/usr/bin/env bash
# Download, into bench/gpu/wheels/, the wheels that bench/gpu/run.sh installs on a GPU
# machine with no network (the list: bench/gpu/wheels.txt). Run it where pip reaches PyPI,
# then copy the repository, wheels included, to the GPU machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wheels="${WHEELS:-$here/wheels}"
python="${PYTHON:-python3}"
# CPython versions of the compiled wheels: the GPU machine's must be one of them.
versions="${PYTHON_VERSIONS:-3.10 3.11 3.12}"
mkdir -p "$wheels"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64)
grep -v '^#' "$here/wheels.txt" | while read -r name version _needed kind; do
    [ -n "$name" ] || continue
    if [ "$kind" = compiled ]; then
        for py in $versions; do
            "$python" -m pip download --quiet --no-deps --only-binary=:all: "${platforms[@]}" \
                --implementation cp --python-version "$py" -d "$wheels" "$name==$version"
        done
    else
        # Pure-Python wheels, and torchao's one manylinux wheel for every CPython 3.
        "$python" -m pip download --quiet --no-deps --only-binary=:all: "${platforms[@]}" \
            --implementation cp --python-version 3.11 -d "$wheels" "$name==$version"
    fi
    echo "fetched $name $version"
done
echo "$(ls "$wheels" | wc -l) wheels, $(du -sh "$wheels" | cut -f1) in $wheels"
