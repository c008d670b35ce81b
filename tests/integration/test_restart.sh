#!/usr/bin/env bash
# Restart equivalence (issue 5, fault 1): an engine killed with SIGKILL at random points while
# it consumes, and restarted from its checkpoints each time, pages exactly what an engine that
# was never killed pages: the same transitions, and repeats only as exact copies (same
# transition_id, same content), which consumers drop.
#
# The input is produced while the killed engine runs (so kills land mid-stream, mid-batch,
# mid-checkpoint); the reference engine reads the same topic afterwards. Both use the example
# pack plus probe rules that re-notify every minute, so every minute compares every series'
# values (windows, percentiles, the 7-day baseline's state) and every alert's lifecycle
# (`for` timers, firing state, notification numbers).
#
# Then (fault 5) the disk fills up under the running engine, and (fault 6) one SIGTERM while
# the input is still arriving: the engine must drain, deliver,
# write its final checkpoint and exit 0 within 10 s. The last start runs on a "replacement
# machine", with an empty state directory: it restores the copy of the checkpoint in the
# compacted state topic (state.store: kafka) and continues from there.
#
# Usage: test_restart.sh PATH_TO_TRIPLINE [KILLS] (run from the repository root).
set -euo pipefail
. "$(dirname "$0")/alert_compare.sh"
tripline=${1:?path to the tripline binary}
kills=${2:-4}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$tripline" mock --duration 240s --bootstrap-file "$work/bs" \
  --topic agent-traces:4 --topic out-ref:1 --topic out-killed:1 --topic dlq:1 >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
bs=$(cat "$work/bs")


# the checkpoint is also copied to a compacted topic (state.store: kafka)
printf 'state:\n  store: kafka\n  topic: tl-state\n' > "$work/state.yaml"

run() { # group output state_dir [extra flags...]; exec: `run ... &` gives the engine's own pid
  local group=$1 out=$2 dir=$3
  shift 3
  exec "$tripline" run --config "$work/state.yaml" --brokers "$bs" --input agent-traces --output "$out" --dlq dlq \
    --rules rules/support-agent.yaml --rules tests/integration/probe_rules.yaml --group "$group" --threads 2 \
    --no-print-alerts --state-dir "$dir" --checkpoint-interval 200ms --idle-timeout 60s --eof-grace 2s --self-check-interval 0 \
    -X log_level=3 -X session.timeout.ms=3000 -X heartbeat.interval.ms=300 "$@"
}

# 40,000 events over about 20 s of wall time (20 minutes of event time), produced while the
# engine below is killed and restarted
"$tripline" gen --brokers "$bs" --format json --rate 2000 --count 40000 --traces-per-sec 5 \
  --start 2026-01-01T00:00:00Z --seed 5 > "$work/gen.log" 2>&1 &
gen=$!
pids+=($gen)

restarts=0
: > "$work/killed.log"
start_killed() { # start the engine in the background and wait until it consumes
  local assigned
  assigned=$(grep -c "assigned 4 partitions" "$work/killed.log" || true)
  (run killed out-killed "$work/state" 2>> "$work/killed.log") &
  pid=$!
  pids+=($pid)
  for _ in $(seq 600); do # a group join takes seconds
    [ "$(grep -c "assigned 4 partitions" "$work/killed.log" || true)" -gt "$assigned" ] && break
    sleep 0.05
  done
}
for i in $(seq "$kills"); do
  start_killed
  # kill it somewhere in the next 2 s
  sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 2 }')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  restarts=$((restarts + 1))
done
# fault 6: SIGTERM under load drains, delivers, checkpoints, commits and exits 0, quickly;
# before that (fault 5), the disk fills up under it: checkpoints fail (the temporary file is
# /dev/full, a real ENOSPC), the engine reports itself degraded and keeps going, and recovers
# when there is space again
start_killed
# (the link can replace a checkpoint.tmp the engine is writing at that moment, whose rename then
# moves the link itself: the engine reports that checkpoint unreadable, and the next write makes
# a real file again; so place the link again until a write meets it)
for _ in $(seq 10); do
  ln -sf /dev/full "$work/state/checkpoint.tmp"
  for _ in $(seq 20); do grep -q "ERROR degraded: .*No space left on device" "$work/killed.log" && break 2; sleep 0.05; done
done
grep -q "ERROR degraded: .*No space left on device" "$work/killed.log" ||
  { echo "FAIL: a full disk was not reported as degraded"; tail -20 "$work/killed.log"; exit 1; }
rm -f "$work/state/checkpoint.tmp"
for _ in $(seq 200); do grep -q "checkpoints work again" "$work/killed.log" && break; sleep 0.05; done
grep -q "checkpoints work again" "$work/killed.log" ||
  { echo "FAIL: no recovery from the full disk"; tail -20 "$work/killed.log"; exit 1; }
echo "disk full under load: reported degraded, recovered when space returned"
finals=$(grep -c "final checkpoint written" "$work/killed.log" || true)
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 0 ] || { echo "FAIL: SIGTERM under load: exit code $rc"; tail -20 "$work/killed.log"; exit 1; }
[ "$(grep -c "final checkpoint written" "$work/killed.log" || true)" -gt "$finals" ] ||
  { echo "FAIL: SIGTERM under load wrote no final checkpoint"; tail -20 "$work/killed.log"; exit 1; }
[ "$stop_ms" -le 10000 ] || { echo "FAIL: SIGTERM took $stop_ms ms"; exit 1; }
echo "SIGTERM under load: exit 0 after $stop_ms ms, final checkpoint written"

wait "$gen"
grep -q "produced 40000 events" "$work/gen.log" || { echo "FAIL: generator"; cat "$work/gen.log"; exit 1; }
# the last start runs to the end of the input
# ... on a replacement machine: no local state, the checkpoint comes from the topic
(run killed out-killed "$work/state-replacement" --exit-at-end 2>> "$work/killed.log")
grep -q "fetched the copy in topic tl-state" "$work/killed.log" ||
  { echo "FAIL: the replacement did not restore from the topic"; tail -20 "$work/killed.log"; exit 1; }
(run ref out-ref "$work/state-ref" --exit-at-end 2> "$work/ref.log")

grep -c "restored checkpoint" "$work/killed.log" > "$work/restored" || true
echo "restarts: $restarts, of which resumed from a checkpoint: $(cat "$work/restored")"
grep -E "restored checkpoint|partitions resume|stats:" "$work/killed.log" || true
[ "$(cat "$work/restored")" -ge 1 ] || { echo "FAIL: no restart found a checkpoint"; cat "$work/killed.log"; exit 1; }

if ! compare_alerts "$bs" out-ref out-killed "$work"; then
  echo "FAIL: the killed-and-restarted engine's alerts differ from the reference"
  tail -30 "$work/killed.log"
  exit 1
fi
echo "OK: $NREF transitions, $NDELIVERED delivered across $restarts kills (repeats are exact copies)"
