#!/usr/bin/env bash
# CPU benchmark: dlnflow (all cores, built for this CPU) against the NumPy baseline, one run.
# Writes bench/results/cpu-<host>-<date>.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
build=${DLNFLOW_BENCH_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_BUILD_TESTS=OFF \
  -DDLNFLOW_CUDA=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target flow_throughput
python3 bench/compare_cpu.py --binary "$build/bench/flow_throughput" "$@"
