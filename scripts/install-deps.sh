#!/usr/bin/env bash
# Installs what dlnflow builds against, from Debian packages, when it is missing.
# Usage: scripts/install-deps.sh [--test] [--bench] [--baselines]
#   --test       also clang and libFuzzer (scripts/fuzz.sh), and the Python packages the command's
#                integration tests and `dlnflow plot` use
#   --bench      also NumPy for the benchmark baseline
#   --baselines  also JAX, diffrax and PyTorch (CPU use; from PyPI) for bench/compare.py
set -euo pipefail

need=()
[ -f /usr/include/eigen3/Eigen/Dense ] || need+=(libeigen3-dev)
[ -f /usr/include/Random123/philox.h ] || need+=(librandom123-dev)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
[ -f /usr/include/toml++/toml.h ] || need+=(libtomlplusplus-dev)
[ -f /usr/include/CLI/CLI.hpp ] || need+=(libcli11-dev)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
[ -f /usr/include/hdf5/serial/hdf5.h ] || need+=(libhdf5-dev)
[ -f /usr/include/xxhash.h ] || need+=(libxxhash-dev)
command -v mpicxx >/dev/null && command -v mpirun >/dev/null || need+=(libopenmpi-dev openmpi-bin)
command -v python3 >/dev/null || need+=(python3)
# The Python package (pyproject.toml) compiles against Python's headers and installs with pip.
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  2>/dev/null || need+=(python3-dev)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
# An externally managed Python (PEP 668, Debian 12) gets a virtual environment (python-env.sh),
# which needs the venv module.
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip' 2>/dev/null &&
   python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")))'; then
  need+=(python3-venv)
fi
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
for arg in "$@"; do
  if [ "$arg" = --test ]; then  # the fuzzers (scripts/fuzz.sh): clang with its libFuzzer runtime
    command -v clang++ >/dev/null || need+=(clang)
    compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null || need+=(libclang-rt-dev)
    # scripts/test.sh: the Python package's build takes the main build's objects from ccache.
    command -v ccache >/dev/null || need+=(ccache)
  fi
done

if [ ${#need[@]} -gt 0 ]; then
  echo "dlnflow: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# shellcheck source=scripts/python-env.sh
source "$(dirname "$0")/python-env.sh"
for arg in "$@"; do
  case "$arg" in
    --test) modules=(numpy h5py matplotlib) ;;
    --bench) modules=(numpy) ;;
    --baselines) modules=(jax diffrax torch) ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
  missing=()
  for m in "${modules[@]}"; do python3 -c "import $m" 2>/dev/null || missing+=("$m"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dlnflow: installing ${missing[*]} from PyPI" >&2
    python3 -m pip install -q "${missing[@]}"
  fi
done
