#!/usr/bin/env bash
# Installs what dlnflow builds against, from Debian packages, when it is missing.
# Usage: scripts/install-deps.sh [--bench]   (--bench also installs NumPy for the baseline)
set -euo pipefail

need=()
[ -f /usr/include/eigen3/Eigen/Dense ] || need+=(libeigen3-dev)
[ -f /usr/include/Random123/philox.h ] || need+=(librandom123-dev)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)

if [ ${#need[@]} -gt 0 ]; then
  echo "dlnflow: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--bench" ] && ! python3 -c "import numpy" 2>/dev/null; then
  echo "dlnflow: installing numpy (for bench/baselines)" >&2
  python3 -m pip install -q numpy
fi
