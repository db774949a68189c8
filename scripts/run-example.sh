#!/usr/bin/env bash
# Builds the dlnflow command and runs the bundled quickstart experiment (examples/quickstart.toml)
# into results/quickstart, then prints its per-point statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${DLNFLOW_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA="${DLNFLOW_CUDA:-AUTO}" >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target dlnflow_cli
"$build/dlnflow" run examples/quickstart.toml --out results/quickstart --overwrite
"$build/dlnflow" stats results/quickstart
