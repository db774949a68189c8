#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer (GCC, CPU only) in
# build-asan/ and runs the C++ test suite and the command's integration tests (cli.*) there:
# a memory error, a leak or undefined behaviour anywhere the tests reach fails the test.
# The validation studies and the baseline comparisons (validation.*, bench.*) are left out:
# they are long numerical runs of the same code paths in Python.
#
#   scripts/test-sanitizers.sh [CTEST_ARGS...]     e.g. -R DataFiles
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DLNFLOW_ASAN_BUILD_DIR:-build-asan}
jobs=${DLNFLOW_JOBS:-$(nproc)}
t0=$SECONDS
CC=gcc CXX=g++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDLNFLOW_SANITIZE=address,undefined -DDLNFLOW_CUDA=OFF -DDLNFLOW_BUILD_BENCH=OFF -DDLNFLOW_TSAN_TESTS=OFF >/dev/null
cmake --build "$build" --parallel "$jobs"
t1=$SECONDS
# abort_on_error: a report ends the process with SIGABRT, which ctest and Python both see as a
# failure; halt_on_error and -fno-sanitize-recover make UBSan reports fatal as well.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
rc=0
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" -E '^(validation|bench)\.' "$@" || rc=$?
echo "test-sanitizers: build $((t1 - t0)) s, tests $((SECONDS - t1)) s, ctest exit $rc"
exit $rc
