#!/usr/bin/env bash
# Builds dlnflow and runs its whole test suite (CUDA parts are built when nvcc is present;
# GPU tests skip with the reason on machines without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
build=${DLNFLOW_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA="${DLNFLOW_CUDA:-AUTO}" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
