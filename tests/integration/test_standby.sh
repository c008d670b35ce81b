#!/usr/bin/env bash
# Rebalance with a second consumer joining and leaving (issue 5, fault 4), under ha.mode:
# standby (engine/lease.h). Two instances share one group; while the input is produced live:
#   1. A runs alone;
#   2. B joins: the lease group rebalances in the middle of A's batches; A stops (final
#      checkpoint, commit), then one of the two is active;
#   3. B leaves (SIGTERM): the group rebalances again;
#   4. B joins again; 5. the active one leaves (SIGTERM): a graceful handover; 6. it comes back;
#   7. whichever is active is killed with SIGKILL: the other takes over once the dead member's
#      session expires, from the checkpoint copy in the state topic;
#   8. a last start runs to the end of the input.
# Expected: never two active instances at once (from the logs' timestamps); every handover
# restored the state the previous one left; and the alerts equal those of a reference engine
# that read the same topic alone and uninterrupted: nothing counted twice (the probe rules
# re-notify every minute with every series' window values, so a double count shows), nothing
# lost, repeats only as exact copies. Last, two instances in single mode sharing a group must
# each report the split.
#
# Usage: test_standby.sh PATH_TO_TRIPLINE (run from the repository root).
set -euo pipefail
. "$(dirname "$0")/alert_compare.sh"
tripline=${1:?path to the tripline binary}
work=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "work: $work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

"$tripline" mock --duration 240s --bootstrap-file "$work/bs" \
  --topic agent-traces:4 --topic out-ref:1 --topic out-ha:1 --topic dlq:1 >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
bs=$(cat "$work/bs")
printf 'state:\n  store: kafka\n  topic: tl-state\nha:\n  lease_topic: tl-lease\n' > "$work/ha.yaml"

run() { # name group output [extra flags...]; each instance has its own state directory
  local name=$1 group=$2 out=$3
  shift 3
  exec "$tripline" run --config "$work/ha.yaml" --brokers "$bs" --input agent-traces --output "$out" --dlq dlq \
    --rules rules/support-agent.yaml --rules tests/integration/probe_rules.yaml --group "$group" --threads 2 \
    --no-print-alerts --state-dir "$work/state-$name" --checkpoint-interval 200ms --idle-timeout 60s \
    --eof-grace 2s --self-check-interval 0 \
    -X log_level=3 -X session.timeout.ms=3000 -X heartbeat.interval.ms=300 "$@"
}
declare -A pid
start() { # name: start a standby instance, logging to $work/<name>.log
  (run "$1" ha out-ha --standby 2>> "$work/$1.log") &
  pid[$1]=$!
  pids+=($!)
}
count() { grep -c "$2" "$work/$1.log" 2>/dev/null || true; }
# wait until some instance starts a tenure after `before` tenures in all, and consumes
active_total() { cat "$work"/[AB].log 2>/dev/null | grep -c "assigned 4 partitions" || true; }
await_active() {
  local before=$1
  for _ in $(seq 1200); do # 60 s: under ASan next to other tests, a handover took up to 10 s
    [ "$(active_total)" -gt "$before" ] && return 0
    sleep 0.05
  done
  echo "FAIL: no instance became active within 60 s"
  for n in A B; do
    echo "== $n (pid ${pid[$n]:-none}, $(kill -0 "${pid[$n]:-0}" 2>/dev/null && echo running || echo exited))"
    grep -v -E "stats:|state:" "$work/$n.log" | tail -n 30
  done
  exit 1
}
pause() { sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", '"$1"' + rand() * '"$2"' }')"; }
who_active() { # the live instance whose tenure is consuming: its last lease event is an assignment
  local n
  for n in A B; do
    [ -n "${pid[$n]:-}" ] && kill -0 "${pid[$n]}" 2>/dev/null || continue
    [ "$(grep -E "lease: (this instance is the active one|released|revoked)|assigned 4 partitions" "$work/$n.log" |
        tail -1 | grep -c "assigned 4 partitions")" -eq 1 ] && { echo "$n"; return; }
  done
}
await_who_active() {
  local w=""
  for _ in $(seq 300); do w=$(who_active); [ -n "$w" ] && break; sleep 0.05; done
  echo "$w"
}

"$tripline" gen --brokers "$bs" --format json --rate 2000 --count 40000 --traces-per-sec 5 \
  --start 2026-01-01T00:00:00Z --seed 7 > "$work/gen.log" 2>&1 &
gen=$!
pids+=($gen)
: > "$work/A.log"
: > "$work/B.log"

other() { [ "$1" = A ] && echo B || echo A; }
join() { # name: start it and wait until the rebalance it causes has settled on an active one
  local n j
  n=$(active_total); j=$(count "$1" "lease: joining")
  start "$1"
  for _ in $(seq 600); do [ "$(count "$1" "lease: joining")" -gt "$j" ] && break; sleep 0.05; done
  [ "$n" -eq 0 ] || await_active "$n"
  [ "$n" -gt 0 ] || await_active 0
  echo "$1 joined; active: $(await_who_active)"
}
leave() { # name: SIGTERM (drain, final checkpoint, commit, exit 0), and wait for the next tenure
  local n
  n=$(active_total)
  kill -TERM "${pid[$1]}"
  wait "${pid[$1]}" || { echo "FAIL: $1 exited non-zero on SIGTERM"; tail -n 20 "$work/$1.log"; exit 1; }
  await_active "$n"
  echo "$1 left; active: $(await_who_active)"
}

join A; pause 0.3 1.5                    # 1. A alone
join B; pause 0.3 1.5                    # 2. B joins, in the middle of A's batches
leave B; pause 0.3 1.0                   # 3. B leaves
join B; pause 0.3 1.0                    # 4. B joins again...
a=$(await_who_active)
[ -n "$a" ] || { echo "FAIL: no active instance"; tail -n 20 "$work"/[AB].log; exit 1; }
leave "$a"; pause 0.3 1.0                # 5. ... and the active one leaves: a graceful handover
join "$a"; pause 0.3 1.0                 # 6. it comes back as a standby (or takes the lease again)
victim=$(await_who_active)               # 7. the active one dies
[ -n "$victim" ] || { echo "FAIL: no active instance"; tail -n 20 "$work"/[AB].log; exit 1; }
n=$(active_total)
kill -9 "${pid[$victim]}"
killed_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ); wait "${pid[$victim]}" 2>/dev/null || true
echo "$victim (active) killed; the other takes over after the session timeout"
await_active "$n"
survivor=$(other "$victim")
grep -q "taking over: fetched the copy in topic tl-state" "$work/$survivor.log" ||
  { echo "FAIL: $survivor took over without the checkpoint copy"; tail -n 20 "$work/$survivor.log"; exit 1; }
wait "$gen"
grep -q "produced 40000 events" "$work/gen.log" || { echo "FAIL: generator"; cat "$work/gen.log"; exit 1; }
kill -TERM "${pid[$survivor]}"
wait "${pid[$survivor]}" || { echo "FAIL: $survivor exited non-zero"; tail -n 20 "$work/$survivor.log"; exit 1; }
# 8. the last start (in the victim's place) reads to the end
(run "$victim" ha out-ha --standby --exit-at-end 2>> "$work/$victim.log")
(run ref ref out-ref --exit-at-end 2> "$work/ref.log")

# never two active at once: a tenure runs from "the active one" to "released" (the victim's
# last one to the moment it was killed); at equal times a release sorts first
{
  for n in A B; do
    sed -nE "s/^([^ ]+) INFO  lease: this instance is the active one.*/\1 1 $n/p; s/^([^ ]+) INFO  lease: released.*/\1 0 $n/p" \
      "$work/$n.log"
  done
  echo "$killed_at 0 $victim"
} | sort > "$work/tenures"
tenures=$(grep -c " 1 " "$work/tenures" || true)
overlap=$(awk '$2 == 1 { if (active != "") { print "at " $1 ": " active " and " $3; exit } active = $3 }
               $2 == 0 && $3 == active { active = "" }' "$work/tenures")
[ "$tenures" -ge 3 ] || { echo "FAIL: only $tenures tenures: the handovers did not happen"; cat "$work/tenures"; exit 1; }
echo "tenures: $tenures; handovers restored: $(cat "$work"/[AB].log | grep -c "restored checkpoint" || true)"
if [ -n "$overlap" ]; then echo "FAIL: two active instances: $overlap"; sort "$work/tenures"; exit 1; fi

if ! compare_alerts "$bs" out-ref out-ha "$work"; then
  echo "FAIL: the alerts of the instances taking turns differ from the reference"
  tail -n 30 "$work/A.log" "$work/B.log"
  exit 1
fi
echo "ok: $NREF transitions, $NDELIVERED delivered by instances taking turns over $tenures tenures (repeats are exact copies)"

# What standby avoids: two single-mode instances in one group split the partitions, and each
# reports it as an error (engine.c check_whole_topics)
for n in S1 S2; do
  ("$tripline" run --brokers "$bs" --input agent-traces --output out-split --dlq dlq --rules rules/support-agent.yaml \
    --group split --threads 1 --no-print-alerts --self-check-interval 0 -X log_level=3 -X session.timeout.ms=3000 \
    -X heartbeat.interval.ms=300 2> "$work/$n.log") &
  pid[$n]=$!
  pids+=($!)
done
split_seen() { grep -q "ERROR assigned 2 of the 4 partitions of agent-traces: another instance consumes in group split" "$work/$1.log"; }
for _ in $(seq 400); do split_seen S1 && split_seen S2 && break; sleep 0.05; done
kill -TERM "${pid[S1]}" "${pid[S2]}"
wait "${pid[S1]}" "${pid[S2]}" || true
split_seen S1 && split_seen S2 || { echo "FAIL: a split group was not reported"; tail -n 5 "$work/S1.log" "$work/S2.log"; exit 1; }
echo "OK: two single-mode instances in one group each report the split"
