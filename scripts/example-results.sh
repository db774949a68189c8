#!/usr/bin/env bash
# Runs every experiment of examples/ on the CPU into OUT/<path of the example> and prints the
# checksum of each data file: two builds give the same lines when they give the same bytes.
# This is how a refactoring is shown to leave every result bit for bit as it was:
#   scripts/example-results.sh /tmp/before [BIN] > before.txt   (on the old build)
#   scripts/example-results.sh /tmp/after  [BIN] > after.txt    (on the new one)
#   diff before.txt after.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/example-results.sh OUT [BIN]}
bin=${2:-build/dlnflow}
find examples -name '*.toml' | sort | while read -r exp; do
  dir=$out/${exp%.toml}
  rm -rf "$dir"
  "$bin" run "$exp" --out "$dir" --backend cpu --quiet
  for f in summary.csv trajectories.h5; do
    echo "$(sha256sum <"$dir/$f" | cut -c1-16)  ${exp%.toml}/$f"
  done
done
