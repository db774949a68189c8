#!/usr/bin/env bash
# Fuzzes the readers of untrusted input (experiment files, .npy, .csv) with libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer (tests/fuzz/).
#
#   scripts/fuzz.sh [--seconds N] [--runs N] [--jobs J] [--replay] [--json FILE] [TARGET...]
#
# TARGET: fuzz_experiment, fuzz_npy, fuzz_csv (default: all three). Each target runs for N seconds
# (default 180) or N executions, whichever ends first, in J worker processes (default 1).
# Fork mode keeps fuzzing past a finding, so one run reports every defect it reaches rather than
# the first: each failing input is saved under build-fuzz/findings/<target>/ (crash-*, oom-*,
# timeout-*), and the findings of this run are grouped by defect (tests/fuzz/triage.py).
# Corpora grow in build-fuzz/corpus/<target>/ from run to run, seeded from examples/ and
# tests/fuzz/make_seeds.py.
# --replay: fuzz nothing; run the committed reproducers tests/fuzz/regressions/<target>/* and
# report which still fail.
# --json FILE: the figures of each target (executions, seconds, corpus, findings) as JSON.
# Exit status: 1 if any finding (or, with --replay, any reproducer still failing), 2 on misuse.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

seconds=180 runs="" jobs=1 replay=0 json="" targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --replay) replay=1; shift ;;
    --json) json=$2; shift 2 ;;
    fuzz_experiment | fuzz_npy | fuzz_csv) targets+=("$1"); shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(fuzz_experiment fuzz_npy fuzz_csv)
# Limits of one input: 2 GiB of memory (malloc beyond it is a finding, not a swap storm), 10 s,
# and 16 KiB, well above every example file (the largest is a few KiB).
limits=(-rss_limit_mb=2048 -timeout=10 -max_len=16384)

build=${DLNFLOW_FUZZ_BUILD_DIR:-build-fuzz}
echo "== configure and build $build (clang, libFuzzer, ASan+UBSan)"
t0=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLNFLOW_FUZZ=ON \
  -DDLNFLOW_CUDA=OFF -DDLNFLOW_BUILD_BENCH=OFF -DDLNFLOW_TSAN_TESTS=OFF -DDLNFLOW_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}" --parallel "$(nproc)"
echo "   built in $((SECONDS - t0)) s"
bin=$build/tests/fuzz

if ((replay)); then
  status=0
  for t in "${targets[@]}"; do
    shopt -s nullglob
    inputs=(tests/fuzz/regressions/"$t"/*)
    shopt -u nullglob
    echo "== $t: ${#inputs[@]} reproducers in tests/fuzz/regressions/$t"
    ((${#inputs[@]})) || continue
    python3 tests/fuzz/triage.py --expect-clean "$repo" "$bin/$t" "${inputs[@]}" || status=1
  done
  exit $status
fi

echo "== seed corpora"
python3 tests/fuzz/make_seeds.py . "$build/seeds"
status=0
summary=() records=()
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t findings=$build/findings/$t log=$build/logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp -n "$build/seeds/$t"/* "$corpus"/ 2>/dev/null || true
  dict=() && [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  stamp=$findings/.started && touch "$stamp"
  echo "== $t: ${runs:+$runs runs or }$seconds s, $jobs job(s), log $log"
  start=$SECONDS rc=0
  "$bin/$t" "$corpus" -fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$seconds" ${runs:+-runs="$runs"} "${limits[@]}" "${dict[@]}" \
    -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))
  # Fork mode's status lines: "#RUNS: cov: C ft: F corp: N exec/s: ... oom/timeout/crash: a/b/c ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  execs=${execs:-0}
  mapfile -t new < <(find "$findings" -maxdepth 1 -type f -newer "$stamp" \
                       \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort)
  line=$(printf '%-16s %9d execs in %4d s (%d/s), corpus %d files, findings %d' "$t" "$execs" "$elapsed" \
         $((execs / (elapsed > 0 ? elapsed : 1))) "$(find "$corpus" -type f | wc -l)" "${#new[@]}")
  if ((${#new[@]})); then
    status=1
    line+=" in $findings/:"$'\n'$(python3 tests/fuzz/triage.py "$repo" "$bin/$t" "${new[@]}")
  elif ((rc != 0)); then
    status=1
    line+=", but libFuzzer exited with $rc (see $log)"
  fi
  echo "$line"
  summary+=("$line")
  records+=("{\"target\": \"$t\", \"executions\": $execs, \"seconds\": $elapsed, \"corpus\": $(find "$corpus" -type f | wc -l), \"findings\": ${#new[@]}}")
done
if [[ -n $json ]]; then
  (IFS=,; echo "[${records[*]}]") >"$json"
fi
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
