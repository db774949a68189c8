#!/usr/bin/env bash
# Builds dlnflow with AddressSanitizer and UndefinedBehaviorSanitizer (GCC, CPU only) in
# build-asan/ and runs tests there: a memory error, a leak or undefined behaviour anywhere the
# tests reach fails the test.
#
#   scripts/test-sanitizers.sh          what the test command runs: the code that meets untrusted
#                                       input and the run layer — the experiment-file, data-file and
#                                       bad-input tests, the command's and the reliability tests
#   scripts/test-sanitizers.sh --all    the whole C++ suite as well (the long campaign)
#   scripts/test-sanitizers.sh [--all] CTEST_ARGS...   e.g. -R DataFiles
#
# Left out everywhere: the validation studies and baseline comparisons (validation.*, bench.*),
# long numerical runs of the same code in Python, and the tests of peak memory and of signals at
# random times (AddressSanitizer's shadow memory and slowdown are what they would measure), and
# the installed-package test (a consumer built without the sanitizers cannot link an instrumented
# library).
set -euo pipefail
cd "$(dirname "$0")/.."
all=0
if [[ ${1:-} == --all ]]; then all=1; shift; fi
build=${DLNFLOW_ASAN_BUILD_DIR:-build-asan}
jobs=${DLNFLOW_JOBS:-$(nproc)}
t0=$SECONDS
# -O1 -g1: a sanitizer build of Eigen-heavy code at -O2 -g takes twice as long to compile for
# the same reports.
CC=gcc CXX=g++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DDLNFLOW_SANITIZE=address,undefined -DDLNFLOW_CUDA=OFF -DDLNFLOW_BUILD_BENCH=OFF -DDLNFLOW_TSAN_TESTS=OFF >/dev/null
select=()
if ((all)); then
  cmake --build "$build" --parallel "$jobs"
else
  cmake --build "$build" --parallel "$jobs" --target dlnflow_cli test_experiment_file test_data_files_hostile \
    test_bad_input test_cli_quickstart
  select=(-R '^(ExperimentFile|DataFiles|Hostile|BadInput|CliQuickstart|cli|reliability)\.')
fi
t1=$SECONDS
# abort_on_error: a report ends the process with SIGABRT, which ctest and Python both see as a
# failure; halt_on_error and -fno-sanitize-recover make UBSan reports fatal as well.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
rc=0
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" "${select[@]}" \
  -E '^(validation|bench|install)\.|^reliability\.(Signals|MemoryBound|LargeSweepCheck)$' "$@" || rc=$?
echo "test-sanitizers: build $((t1 - t0)) s, tests $((SECONDS - t1)) s, ctest exit $rc"
exit $rc
