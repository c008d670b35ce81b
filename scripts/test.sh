#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite:
#   1. release: Release build (LTO) with warnings as errors: unit, integration and bench-smoke
#      tests; then `tripline check` on the shipped rule packs;
#   2. asan: ASan + UBSan build, the same tests;
#   3. tsan: ThreadSanitizer build of what the integration tests need, and `ctest -L tsan` (every
#      integration test, plus test_ring) with tests/tsan/tsan.supp; a ThreadSanitizer report from
#      any process (the tests' own, the engines and mock clusters they start) fails the run;
#   4. fuzz: the libFuzzer targets (Avro and JSON decoders, rule parser, config parser), each
#      starting from its seed corpus tests/fuzz/corpus/<target>, FUZZ_SECONDS each, as many at
#      a time as there are cores; a crash, leak, hang (over 25 s on one input) or out-of-memory
#      fails the run and leaves the input in the fuzz build directory.
# .ci/run calls exactly this. Each stage prints its wall time.
#
# Knobs (environment): FUZZ_SECONDS (default 60); STAGES, the stages to run (default
# "release asan tsan fuzz"); BUILD_PREFIX, the build directories' name (default build: build/,
# build-asan/, build-tsan/, build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
root=$(pwd)
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-60}
stages=${STAGES:-release asan tsan fuzz}
prefix=${BUILD_PREFIX:-build}

stage_release() {
  echo "== release build (-Werror)"
  cmake -S . -B "$prefix" -DCMAKE_BUILD_TYPE=Release -DTL_WERROR=ON >/dev/null
  cmake --build "$prefix" -j"$jobs"
  (cd "$prefix" && ctest --output-on-failure -j"$jobs")

  echo "== tripline check rules/"
  "$prefix/tripline" check rules/
}

stage_asan() {
  echo "== ASan + UBSan build"
  cmake -S . -B "$prefix-asan" -DCMAKE_BUILD_TYPE=Asan -DTL_WERROR=ON >/dev/null
  cmake --build "$prefix-asan" -j"$jobs"
  (cd "$prefix-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j"$jobs")
}

stage_tsan() {
  echo "== TSan build (integration tests)"
  local dir="$prefix-tsan" reports rc=0
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Tsan -DTL_WERROR=ON >/dev/null
  cmake --build "$dir" -j"$jobs" --target tsan-tests
  # A process with a report exits 66, which fails the test that checks it; each process also
  # writes its reports to $reports/tsan.<pid>, because some run in the background of a shell
  # test (mock clusters) with an exit code nobody reads.
  reports=$(mktemp -d)
  (cd "$dir" && TSAN_OPTIONS="suppressions=$root/tests/tsan/tsan.supp:log_path=$reports/tsan:second_deadlock_stack=1" \
    ctest --output-on-failure -L tsan -j"$jobs") || rc=$?
  if compgen -G "$reports/tsan.*" >/dev/null; then
    echo "ThreadSanitizer reports ($(cat "$reports"/tsan.* | grep -c '^WARNING: ThreadSanitizer') in $(ls "$reports" | wc -l) processes):"
    for f in "$reports"/tsan.*; do
      echo "--- $(basename "$f")"
      head -n 300 "$f"
    done
    rc=1
  fi
  rm -rf "$reports"
  return "$rc"
}

# fuzz_one NAME LOG: fuzz one target for fuzz_seconds from a copy of its seed corpus (the fuzzer
# adds inputs to the copy, not to the repository).
fuzz_one() {
  local name=$1 log=$2 dir="$prefix-fuzz" seeds="tests/fuzz/corpus/${1#fuzz_}" work rc=0
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "no seed corpus in $seeds" >"$log"
    return 1
  fi
  work=$(mktemp -d)
  cp -r "$seeds"/. "$work"/
  "$dir/$name" -max_total_time="$fuzz_seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$dir/$name-" "$work" >"$log" 2>&1 || rc=$?
  rm -rf "$work"
  return "$rc"
}

stage_fuzz() {
  echo "== fuzz targets (${fuzz_seconds}s each, $jobs at a time)"
  local dir="$prefix-fuzz" names=() logs=() pids=() failed=0 i
  for src in tests/fuzz/fuzz_*.c; do names+=("$(basename "$src" .c)"); done
  CC=clang cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTL_FUZZ=ON >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${names[@]}"
  for i in "${!names[@]}"; do
    logs[i]=$(mktemp)
    fuzz_one "${names[i]}" "${logs[i]}" &
    pids[i]=$!
    # a batch of $jobs, then wait for it: every target runs for the same time
    if [ $(((i + 1) % jobs)) -eq 0 ] || [ "$i" -eq $((${#names[@]} - 1)) ]; then
      for j in "${!pids[@]}"; do
        [ -n "${pids[j]}" ] || continue
        if wait "${pids[j]}"; then
          echo "-- ${names[j]}: $(grep -m1 -o 'seed corpus: files: [0-9]*' "${logs[j]}" || echo 'seed corpus: ?');" \
            "$( (grep -o 'Done [0-9]* runs in [0-9]* second(s)' "${logs[j]}" | tail -n 1) || true);" \
            "$( (grep -E '^#[0-9]+[[:space:]]+DONE' "${logs[j]}" | tail -n 1 | grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*') || true)"
        else
          echo "-- ${names[j]}: FAILED"
          # the sanitizer report or failed check, its stack, and where the input was written
          awk '/==ERROR|ERROR: libFuzzer|deadly signal|no seed corpus/ { on = 1 } on && n++ < 60 { print } /^SUMMARY/ { on = 0 }' "${logs[j]}"
          grep -E "Test unit written|artifact" "${logs[j]}" || true
          failed=1
        fi
        rm -f "${logs[j]}"
        pids[j]=""
      done
    fi
  done
  return "$failed"
}

# Stages run as plain commands (never `stage || ...`, which would turn off `set -e` inside them);
# a failure exits, and this says in which stage and after how long.
total_start=$SECONDS
stage=setup
start=$SECONDS
trap 'rc=$?; [ "$rc" -eq 0 ] || echo "== $stage FAILED (exit $rc) after $((SECONDS - start))s"' EXIT
for stage in $stages; do
  case "$stage" in
    release | asan | tsan | fuzz) ;;
    *) echo "unknown stage '$stage' (stages: release asan tsan fuzz)"; exit 2 ;;
  esac
done
for stage in $stages; do
  start=$SECONDS
  "stage_$stage"
  echo "== $stage: $((SECONDS - start))s"
done
echo "== all tests passed ($((SECONDS - total_start))s)"
