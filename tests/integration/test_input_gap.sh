#!/usr/bin/env bash
# Input deleted before it was read (engine.c check_input_gaps): an engine stopped while the
# input topic's retention deletes what it had not read yet must not skip the span silently.
# Two engines read 1,000 events and stop: one with a checkpoint (state.dir), one with only the
# group's committed offsets. Then 100,000 more events push the first ones out of the mock
# partition's retention. At their next start both must log the gap with its exact extent
# (resume offset, oldest retained offset, messages lost), count it (gap_lost in the stats line)
# and raise TriplineInputGap on the alerts topic; and read on from the oldest retained offset.
#
# Usage: test_input_gap.sh PATH_TO_TRIPLINE (run from the repository root).
set -euo pipefail
tripline=${1:?path to the tripline binary}
work=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "work: $work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

"$tripline" mock --duration 120s --bootstrap-file "$work/bs" --topic traces:1 --topic alerts:1 --topic dlq:1 >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
bs=$(cat "$work/bs")

run() { # group [flags...]
  local group=$1
  shift
  exec "$tripline" run --brokers "$bs" --input traces --output alerts --dlq dlq --rules rules/support-agent.yaml \
    --group "$group" --threads 2 --no-print-alerts --self-check-interval 100ms --stats-interval 200ms \
    -X log_level=3 -X session.timeout.ms=3000 -X heartbeat.interval.ms=300 "$@"
}
gen() { # count start
  "$tripline" gen --brokers "$bs" --topic traces --rate 0 --count "$1" --start "$2" --seed 3 > "$work/gen.log" 2>&1 ||
    { echo "FAIL: generator"; cat "$work/gen.log"; exit 1; }
}

gen 1000 2026-01-01T00:00:00Z
(run g-state --state-dir "$work/state" --exit-at-end 2> "$work/first-state.log")
(run g-commit --exit-at-end 2> "$work/first-commit.log")
gen 100000 2026-01-01T00:10:00Z
lo=$(kcat -C -b "$bs" -t traces -o beginning -c 1 -f '%o\n' -q)
[ "$lo" -gt 1000 ] || { echo "FAIL: the mock kept offset $lo: nothing was deleted, the test would prove nothing"; exit 1; }
lost=$((lo - 1000))
echo "retention deleted offsets 0..$((lo - 1)); both groups had read to 1000: $lost messages lost to each"

check() { # name group from [flags...]: start, wait for the self alert, stop, check the log
  local name=$1 group=$2 from=$3
  shift 3
  (run "$group" "$@" 2> "$work/$name.log") &
  local pid=$!
  pids+=($pid)
  local want=$((101000 - lo)) read=0
  for _ in $(seq 300); do # until it fired and read everything from the oldest retained offset on
    read=$(grep -o "stats: messages=[0-9]*" "$work/$name.log" | tail -1 | cut -d= -f2 || true)
    grep -q "self alert TriplineInputGap firing" "$work/$name.log" && [ "${read:-0}" -ge "$want" ] && break
    sleep 0.1
  done
  kill -TERM "$pid"
  wait "$pid" || { echo "FAIL: $name: exit code $?"; tail -n 20 "$work/$name.log"; exit 1; }
  grep -q "ERROR input gap: traces \[0\] resumes at offset 1000 ($from) but the oldest retained is $lo: $lost messages" \
    "$work/$name.log" || { echo "FAIL: $name: no input gap logged"; tail -n 20 "$work/$name.log"; exit 1; }
  grep -q "self alert TriplineInputGap firing" "$work/$name.log" ||
    { echo "FAIL: $name: TriplineInputGap did not fire"; tail -n 20 "$work/$name.log"; exit 1; }
  grep -q "stats: .* gap_lost=$lost " "$work/$name.log" ||
    { echo "FAIL: $name: gap_lost=$lost not in the stats"; grep "stats:" "$work/$name.log" | tail -2; exit 1; }
  # it reads on from the oldest retained offset: every message from there on, nothing before
  read=$(grep -o "stats: messages=[0-9]*" "$work/$name.log" | tail -1 | cut -d= -f2)
  [ "$read" -eq "$want" ] || { echo "FAIL: $name: read $read messages, expected $want (from $lo to the end)"; exit 1; }
  echo "$name: gap of $lost messages logged, counted and alerted; read on from $lo"
}
check second-state g-state checkpoint --state-dir "$work/state"
check second-commit g-commit committed

# on the alerts topic: one firing TriplineInputGap per group instance, critical, value = the loss
n=$(kcat -C -b "$bs" -t alerts -e -q | grep '"alert":"TriplineInputGap","state":"firing"' |
  grep -c "\"value\":$lost,.*\"severity\":\"critical\"" || true)
[ "$n" -eq 2 ] || { echo "FAIL: $n TriplineInputGap firing alerts with value $lost on the topic, expected 2"; exit 1; }
echo "OK: both resume paths (checkpoint, committed offset) report the gap"
