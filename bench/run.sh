#!/usr/bin/env bash
# bench/run.sh - every bench, one after the other, at full size (about 7.5 minutes on 2 cores).
#
# Usage: bash bench/run.sh [BUILD_DIR]   (default build; built here in Release if missing)
# Writes every JSON result line to bench-results.jsonl in the repository root and prints each
# bench's human summary. Run on a quiet machine: the ratios are against baselines from the
# same run, but two benches in parallel would still disturb each other.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -x "$build/bench_hotpath" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" >/dev/null
fi
out=bench-results.jsonl
: >"$out"
for b in bench_decode_json bench_decode_avro bench_hotpath bench_scale bench_e2e bench_latency; do
  echo "== $b"
  start=$(date +%s)
  args=()
  if [ "$b" = bench_e2e ]; then
    # the "ideal engine" of bench_e2e costs what the whole pack costs in memory on one thread,
    # as bench_hotpath just measured it
    for f in json avro; do
      ns=$(grep "\"bench\":\"hotpath\",\"format\":\"$f\"" "$out" | grep '"threads":1,' |
        grep -o '"pack_all_ns":[0-9.]*' | head -1 | cut -d: -f2 || true)
      if [ -n "$ns" ]; then args+=(--ideal-ns-$f "$ns"); fi
    done
  fi
  "$build/$b" "${args[@]}" >>"$out"
  echo "   ($(( $(date +%s) - start )) s)"
done
echo "== results: $out ($(wc -l <"$out") lines)"
