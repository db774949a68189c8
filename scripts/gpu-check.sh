#!/usr/bin/env bash
# The GPU checks of the CUDA backend, for a GPU machine that has only the CUDA toolkit, CMake,
# ninja and Python (no Debian packages, no network):
#
#   scripts/gpu-check.sh pack        on a machine with the dependencies (scripts/install-deps.sh):
#                                    builds build-gpu/ for sm_90 and makes it carryable: the
#                                    shared libraries it links beyond libc/libstdc++ and the
#                                    CUDA toolkit's (cuBLAS, cuSOLVER: the GPU machine has them)
#                                    go to build-gpu/lib, object files are dropped, binaries stripped
#   scripts/gpu-check.sh run [OUT]   on the GPU machine, in the repository root, with build-gpu/
#                                    carried there: every test (the GPU ones included), compute-
#                                    sanitizer memcheck and racecheck on small parity cases, the
#                                    GPU benchmark, the stiff case on the fused path; writes
#                                    OUT/gpu-check.md, OUT/bench-gpu.json, OUT/stiff-gpu.json
#                                    and the logs (OUT defaults to gpu-check-out/)
#   scripts/gpu-check.sh compare [OUT] [ARGS]  on the GPU machine: bench/compare.py (dlnflow CPU,
#                                    GPU fused and batched against the JAX, PyTorch and NumPy
#                                    baselines on the GPU and the CPU, which that machine has);
#                                    writes OUT/<machine>-<date>.json and .png. Back here:
#                                    cp them to bench/results/ and run
#                                    bench/compare.py --render bench/results/<machine>-<date>.json
#
# With the device tool of this workplace: pack here, then
#   run(command="bash scripts/gpu-check.sh run $OUT", carry=["build-gpu"])
#   run(command="bash scripts/gpu-check.sh compare $OUT", carry=["build-gpu"])
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build-gpu

case "${1:-}" in
pack)
  set -e
  # Portable: the binaries run on the GPU machine's CPU, which need not have this one's instructions.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DDLNFLOW_PORTABLE=ON >/dev/null
  cmake --build "$build" --parallel "$(nproc)"
  echo "$root" >"$build/ORIGIN"  # ctest files hold absolute paths: the run side links this path to its checkout
  mkdir -p "$build/lib"
  for bin in "$build"/dlnflow "$build"/tests/test_* "$build"/bench/gpu_throughput; do
    [[ -x $bin && -f $bin ]] || continue
    { ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread|libdl|librt)\.so|/lib(cu|nv)[^/]*$' || true; } |
      xargs -r -I{} cp -Lu {} "$build/lib/"
    strip --strip-unneeded "$bin" 2>/dev/null || true
  done
  # What ctest and the binaries need stays (CTestTestfile.cmake, the discovered test lists);
  # objects, archives and CMake's scratch go: the carried tree must stay under 64 MiB.
  find "$build" -depth -name CMakeFiles -type d -exec rm -rf {} +
  find "$build" \( -name '*.a' -o -name '.ninja_deps' -o -name '.ninja_log' \) -delete
  du -sh "$build"
  echo "carry $build/ to the GPU machine and run: bash scripts/gpu-check.sh run \$OUT"
  ;;
run)
  out=${2:-gpu-check-out}
  mkdir -p "$out"
  report="$out/gpu-check.md"
  if [[ ! -d $build ]]; then
    echo "gpu-check: no $build/ here; building (needs the dependencies of scripts/install-deps.sh)"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDLNFLOW_CUDA=ON >/dev/null &&
      cmake --build "$build" --parallel "$(nproc)" || { echo "gpu-check: build failed"; exit 1; }
  fi
  origin=$(cat "$build/ORIGIN" 2>/dev/null || echo "$root")
  if [[ $origin != "$root" && ! -e $origin ]]; then
    mkdir -p "$(dirname "$origin")" && ln -s "$root" "$origin"
  fi
  cuda=$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")
  export LD_LIBRARY_PATH="$root/$build/lib:$cuda/lib64:$cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  {
    echo "# dlnflow GPU check"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi failed')"
    echo "- host: $(nproc) cores, $(uname -r)"
    echo
  } >"$report"
  status=0
  step() {  # name, command...: runs it, logs it, records the verdict
    local name=$1
    shift
    local t0=$SECONDS
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    local verdict=pass
    [[ $rc -eq 77 ]] && verdict=skipped
    [[ $rc -ne 0 && $rc -ne 77 ]] && verdict="FAIL (exit $rc)" && status=1
    echo "- $name: $verdict in $((SECONDS - t0)) s (log: $name.log)" >>"$report"
    echo "gpu-check: $name: $verdict"
  }
  "$build/dlnflow" info >"$out/info.log" 2>&1
  missing=$(ldd "$build/tests/test_gpu_fused" "$build/dlnflow" | grep "not found" | sort -u)
  [[ -n $missing ]] && echo "- missing shared libraries: $missing" >>"$report"
  step tests ctest --test-dir "$origin/$build" --output-on-failure --parallel 8 --timeout 900
  { grep -E "tests passed|tests failed|\(Failed\)" "$out/tests.log" || true; } | sed 's/^/    /' >>"$report"
  echo "    skipped: $(grep -c '(Skipped)$' "$out/tests.log") (a GPU machine should skip none)" >>"$report"
  small='AllCases/GpuFused.*/deep_bw_plain_bottleneck_dopri5_block:AllCases/GpuFused.*/symmetric_completion_rk4_warp:AllCases/GpuFused.*/end_to_end_square_rank_capped_dopri5_warp:AllCases/GpuFusedImplicit.*/deep_sketched_rodas5p_block'
  if command -v compute-sanitizer >/dev/null; then
    step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 "$build/tests/test_gpu_fused" --gtest_filter="$small"
    step racecheck compute-sanitizer --tool racecheck --error-exitcode 1 "$build/tests/test_gpu_fused" --gtest_filter="$small"
    step synccheck compute-sanitizer --tool synccheck --error-exitcode 1 "$build/tests/test_gpu_fused" --gtest_filter="$small"
  else
    echo "- sanitizers: compute-sanitizer not found" >>"$report"
    status=1
  fi
  step benchmark "$build/bench/gpu_throughput" ${GPU_CHECK_FULL:+} ${GPU_CHECK_FULL:---quick} --json "$out/bench-gpu.json"
  {
    echo
    echo '## Benchmark (fused path vs the CPU backend on all cores, RK4, float64)'
    echo
    echo '```'
    cat "$out/benchmark.log"
    echo '```'
  } >>"$report"
  # The stiff saddle-to-saddle case of issue #15 on the fused path (auto and rodas5p there):
  # escape times against a tight dopri5 reference, and the wall times, as --quick.
  step stiff python3 bench/stiff_switching.py --bin "$build/dlnflow" --backend gpu --quick --threads "$(nproc)" \
    --out "$out/stiff-gpu.json"
  {
    echo
    echo '## Stiff case on the fused path (bench/stiff_switching.py --backend gpu --quick)'
    echo
    echo '```'
    tail -n 30 "$out/stiff.log"
    echo '```'
  } >>"$report"
  echo "gpu-check: report in $report"
  exit $status
  ;;
compare)
  out=${2:-gpu-check-out}
  mkdir -p "$out"
  shift $(($# < 2 ? $# : 2))
  cuda=$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")
  export LD_LIBRARY_PATH="$root/$build/lib:$cuda/lib64:$cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # No docs refresh there: the results come back as files and are rendered here (--render).
  # The device tool allows 10 minutes a command: the CPU baselines (NumPy, JAX and PyTorch on the
  # CPU) are the slow sides, so the default sweep skips d = 4, where they would need 2000 steps.
  [[ $# -gt 0 ]] || set -- --d 8 16 32
  python3 bench/compare.py --dlnflow "$build/dlnflow" --out "$out" --no-doc --baseline-timeout 240 "$@" 2>&1 |
    tee "$out/compare.log"
  exit "${PIPESTATUS[0]}"
  ;;
*)
  sed -n '2,26p' "$0"
  exit 2
  ;;
esac
