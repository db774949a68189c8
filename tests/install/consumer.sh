#!/usr/bin/env bash
# The installed package as a user meets it: `cmake --install` of this build into a scratch prefix,
# examples/consumer configured with find_package(dlnflow) and built out of tree, then run.
# Fails unless
#   - the CPU-only consumer (dlnflow::dlnflow) links no CUDA library (ldd) and no CUDA symbol (nm),
#   - it prints the same trajectories, digit for digit, as the quickstart built in this tree
#     (the same computation through the installed headers and library),
#   - where the installation has CUDA, a consumer of dlnflow::dlnflow_cuda configures and links too.
#   tests/install/consumer.sh BUILD_DIR SOURCE_DIR SCRATCH
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch" && scratch=$(realpath "$scratch")
# The package's own dependencies must be installed for a consumer to build (the GPU-check
# machine carries a build but no Eigen headers): skipped, with the reason, where they are not.
# (In the scratch folder: cmake --find-package leaves a CMakeFiles/ where it runs.)
if ! (cd "$scratch" && cmake --find-package -DNAME=Eigen3 -DCOMPILER_ID=GNU -DLANGUAGE=CXX -DMODE=EXIST) >/dev/null 2>&1; then
  echo "skipped: Eigen3 (a dependency of find_package(dlnflow)) is not installed here"; exit 77
fi
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$src/examples/consumer" -B "$scratch/cpu" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/cpu" >/dev/null
if ldd "$scratch/cpu/quickstart" | grep -Ei 'cuda|cublas|cusolver'; then
  echo "FAIL: the CPU-only consumer links a CUDA library (above)"; exit 1
fi
if nm -C "$scratch/cpu/quickstart" | grep -E ' (cuda|cublas|cusolver)[A-Z]' | head -3 | grep .; then
  echo "FAIL: the CPU-only consumer contains CUDA runtime symbols (above)"; exit 1
fi
"$scratch/cpu/quickstart" > "$scratch/cpu.txt"
"$build/quickstart" > "$scratch/tree.txt"
# Line 1 names the backend and why (the in-tree build may have CUDA); the table must agree.
if ! diff <(tail -n +2 "$scratch/cpu.txt") <(tail -n +2 "$scratch/tree.txt"); then
  echo "FAIL: the installed library's quickstart differs from the in-tree one (above)"; exit 1
fi
rows=$(tail -n +3 "$scratch/cpu.txt" | wc -l)
[[ $rows == 12 ]] || { echo "FAIL: expected 12 trajectories, got $rows"; exit 1; }
grep -q "on the cpu" "$scratch/cpu.txt" || { echo "FAIL: line 1 does not say the CPU ran it"; head -1 "$scratch/cpu.txt"; exit 1; }
if [[ -f "$scratch/prefix/lib/cmake/dlnflow/dlnflowCudaTargets.cmake" ]]; then
  cmake -S "$src/examples/consumer" -B "$scratch/cuda" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWITH_CUDA=ON \
        -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
  cmake --build "$scratch/cuda" >/dev/null
  "$scratch/cuda/quickstart" > "$scratch/cuda.txt"
  # Without a GPU it falls back to the CPU and must give the same table; with one the numbers
  # are the GPU's (held to the CPU's by the GPU tests), so only the row count is checked.
  if grep -q "on the cpu" "$scratch/cuda.txt"; then
    diff <(tail -n +2 "$scratch/cuda.txt") <(tail -n +2 "$scratch/cpu.txt") || { echo "FAIL: dlnflow_cuda on the CPU differs"; exit 1; }
  fi
  echo "consumer of dlnflow::dlnflow_cuda: $(head -1 "$scratch/cuda.txt")"
fi
echo "consumer of dlnflow::dlnflow: $(head -1 "$scratch/cpu.txt")"
echo "PASS"
