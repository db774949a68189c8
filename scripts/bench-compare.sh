#!/usr/bin/env bash
# dlnflow against the JAX, PyTorch and NumPy baselines on this machine, in one run (issue #6):
# installs the Python side (numpy, h5py, matplotlib, jax, diffrax, torch from PyPI), builds
# dlnflow for this CPU (build-bench/, with the FP64 peak probe), runs bench/compare.py and
# refreshes docs/performance.md. Arguments go to bench/compare.py (--help lists them).
# On a GPU machine use `scripts/gpu-check.sh compare OUT` instead (nothing installs there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test --baselines
build=${DLNFLOW_BENCH_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_BUILD_TESTS=OFF \
  -DDLNFLOW_CUDA=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target dlnflow_cli flow_throughput
python3 bench/compare.py --dlnflow "$build/dlnflow" "$@"
