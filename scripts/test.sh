#!/usr/bin/env bash
# Builds dlnflow and runs its whole test suite (CUDA parts are built when nvcc is present;
# GPU tests skip with the reason on machines without a GPU), installs the Python package and runs
# its tests (pytest, the notebook of examples/), then the fuzzers on every committed reproducer
# and the input-facing tests again under ASan/UBSan.
#   scripts/test.sh           what CI runs (.ci/run)
#   scripts/test.sh --long    also every fuzzer for 60 s, the whole suite under ASan/UBSan and the
#                             long campaigns of docs/reliability.md (signals, 10^6 trajectories,
#                             MPI timing, 10^6 fuzz executions per target)
set -euo pipefail
cd "$(dirname "$0")/.."
long=0
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    *) echo "usage: scripts/test.sh [--long]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh --test
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh  # .venv/ first on PATH where the system Python is externally managed
build=${DLNFLOW_BUILD_DIR:-build}
# The Python package (below) compiles the engine once more in its own tree. With nanobind present
# when the main build is configured, that build compiles the same objects (the engine
# position-independent, for the module) with the compiler Python names (sysconfig's CC and CXX,
# which scikit-build-core hands to CMake), and ccache gives them to the package's build: 52 s
# instead of 4 minutes on 2 cores. (CMake reads CC, CXX and the launchers on a tree's first
# configure only: an existing build tree keeps what it has.)
python3 -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0"
if command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CUDA_COMPILER_LAUNCHER=${CMAKE_CUDA_COMPILER_LAUNCHER:-ccache}
fi
read -r py_cc py_cxx < <(python3 -c 'import sysconfig as s
print((s.get_config_var("CC") or "cc").split()[0], (s.get_config_var("CXX") or "c++").split()[0])')
# A Python built with a compiler this machine lacks: gcc and g++, and the package compiles afresh.
command -v "$py_cc" >/dev/null && command -v "$py_cxx" >/dev/null || py_cc=gcc py_cxx=g++
CC=${CC:-$py_cc} CXX=${CXX:-$py_cxx} \
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA="${DLNFLOW_CUDA:-AUTO}" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
# The Python package as a user installs it (pip, scikit-build-core, nanobind: the engine compiled
# once more into dlnflow._core, in build/python-*, kept between runs and rebuilt only where it
# changed, which needs a build without pip's isolation), then its tests and the notebook of
# examples/ (docs/python.md). pytest's "no tests ran" (exit 5) fails this script too.
python3 -m pip install -q --no-build-isolation ".[test]"
DLNFLOW_BIN="$(pwd)/$build/dlnflow" python3 -m pytest -q python/tests
scripts/fuzz.sh --replay
scripts/test-sanitizers.sh
if ((long)); then
  scripts/fuzz.sh --seconds 60
  scripts/test-sanitizers.sh --all
  python3 bench/reliability_campaign.py --bin "$build/dlnflow" --trials 20
fi
