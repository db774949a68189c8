#!/usr/bin/env bash
# Builds dlnflow and runs the bundled quickstart example (examples/quickstart.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${DLNFLOW_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA="${DLNFLOW_CUDA:-AUTO}" >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target quickstart
"$build/quickstart"
