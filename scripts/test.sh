#!/usr/bin/env bash
# Builds dlnflow and runs its whole test suite (CUDA parts are built when nvcc is present;
# GPU tests skip with the reason on machines without a GPU), installs the Python package and runs
# its tests (pytest, the notebook of examples/), then the fuzzers (60 s each, after
# replaying every committed reproducer) and the input-facing tests again under ASan/UBSan.
#   scripts/test.sh           what CI runs (.ci/run)
#   scripts/test.sh --long    also the whole suite under ASan/UBSan and the long campaigns of
#                             docs/reliability.md (signals, 10^6 trajectories, MPI timing, 10^6
#                             fuzz executions per target)
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
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA="${DLNFLOW_CUDA:-AUTO}" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
# The Python package as a user installs it (pip, scikit-build-core, nanobind: the engine compiled
# once more into dlnflow._core, in build/python-*, kept between runs and rebuilt only where it
# changed, which needs a build without pip's isolation), then its tests and the notebook of
# examples/ (docs/python.md). pytest's "no tests ran" (exit 5) fails this script too.
python3 -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0"
python3 -m pip install -q --no-build-isolation ".[test]"
DLNFLOW_BIN="$(pwd)/$build/dlnflow" python3 -m pytest -q python/tests
scripts/fuzz.sh --replay
scripts/fuzz.sh --seconds 60
scripts/test-sanitizers.sh
if ((long)); then
  scripts/test-sanitizers.sh --all
  python3 bench/reliability_campaign.py --bin "$build/dlnflow" --trials 20
fi
