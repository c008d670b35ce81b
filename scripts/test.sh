#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite:
#   1. Release build with warnings as errors: unit, integration and bench-smoke tests;
#   2. ASan + UBSan build: the same tests;
#   3. libFuzzer targets (decoders, rule parser, config parser), each for a bounded time;
#   4. `tripline check` on the shipped rule packs.
# .ci/run calls exactly this. FUZZ_SECONDS (default 20) bounds each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-20}

echo "== release build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTL_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== tripline check rules/"
./build/tripline check rules/

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DTL_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs")

echo "== fuzz targets (${fuzz_seconds}s each)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTL_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' ')
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  corpus_in="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus_in" ] && cp -r "$corpus_in"/. "$work"/
  echo "-- $name"
  log="$work.log"
  if ! ./build-fuzz/"$name" -max_total_time="$fuzz_seconds" -print_final_stats=0 -artifact_prefix=build-fuzz/ "$work" >"$log" 2>&1; then
    # the failed check or sanitizer report, and where the crashing input was written
    grep -E "check failed|ERROR|SUMMARY|Test unit written" "$log" | head -n 20
    rm -rf "$work" "$log"
    exit 1
  fi
  tail -n 2 "$log"
  rm -rf "$work" "$log"
done

echo "== all tests passed"
