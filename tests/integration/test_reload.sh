#!/usr/bin/env bash
# Hot reload of rules in a running engine: SIGHUP with an invalid rule file keeps the running
# rules (logged, the engine goes on); SIGHUP with a valid one takes effect without losing the
# state of unchanged rules (the firing alert is not paged again); SIGTERM stops cleanly.
# Usage: test_reload.sh PATH_TO_TRIPLINE (run from the repository root).
set -euo pipefail
tripline=${1:?path to the tripline binary}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$tripline" mock --duration 120s --bootstrap-file "$work/bs" \
  --topic agent-traces:2 --topic tripline-alerts:1 --topic tripline-dlq:1 >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
bs=$(cat "$work/bs")

mkdir "$work/rules"
cat > "$work/rules/r.yaml" <<'YAML'
rules:
  - name: ChargeErrors
    filter: tool == "charge_card"
    group_by: [service]
    value: ratio(status != "ok")
    window: 1m
    slot: 5s
    threshold: "> 20%"
    min_events: 10
    severity: critical
    owner: payments
    runbook: https://runbooks.example/charge
    summary: "{{service}} charge errors {{value}}"
YAML

# events: 50% errors, keyed so both partitions get data, event time from now
t0=$(( $(date +%s) * 1000 ))
gen() { # from_ms count
  for i in $(seq 0 $(( $2 - 1 ))); do
    ts=$(( $1 + i * 200 )); st=ok; [ $((i % 2)) -eq 0 ] && st=error
    printf 'k%d|{"timestamp": %d, "service": "checkout", "kind": "tool_call", "tool": "charge_card", "status": "%s"}\n' "$i" "$ts" "$st"
  done
}
gen "$t0" 300 | kcat -P -b "$bs" -t agent-traces -K '|'

"$tripline" run --brokers "$bs" --rules "$work/rules" --group reload-test --no-print-alerts \
  --idle-timeout 1s -X log_level=3 2> "$work/run.log" &
run=$!
pids+=($run)
wait_for() { for _ in $(seq 150); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done; echo "FAIL: '$1' not seen"; cat "$work/run.log"; exit 1; }
count_alerts() { kcat -C -b "$bs" -t tripline-alerts -e -q 2>/dev/null | grep -c "$1" || true; }
for _ in $(seq 150); do [ "$(count_alerts '"state":"firing"')" -ge 1 ] && break; sleep 0.1; done
[ "$(count_alerts '"state":"firing"')" -eq 1 ] || { echo "FAIL: no firing alert before the reload"; exit 1; }

# an invalid rule set: logged, the running rules stay
echo "rules: [ {name: Broken, value: p96(latency_ms)} ]" > "$work/rules/z.yaml"
kill -HUP "$run"
wait_for "reload failed" "$work/run.log"
kill -0 "$run" || { echo "FAIL: the engine stopped after an invalid reload"; exit 1; }

# a valid set: the unchanged rule keeps its firing state, a new rule joins
cat > "$work/rules/z.yaml" <<'YAML'
rules:
  - name: ChargeVolume
    filter: tool == "charge_card"
    group_by: [service]
    value: count()
    window: 1m
    threshold: "> 1000000"
    severity: info
    owner: payments
    runbook: https://runbooks.example/charge
    summary: "{{service}} volume {{value}}"
YAML
kill -HUP "$run"
wait_for "reloaded rules: 2 rules" "$work/run.log"
gen $(( t0 + 60000 )) 100 | kcat -P -b "$bs" -t agent-traces -K '|'
sleep 3
n=$(count_alerts '"alert":"ChargeErrors","state":"firing"')
[ "$n" -eq 1 ] || { echo "FAIL: ChargeErrors paged $n times (the reload lost its state)"; exit 1; }

kill -TERM "$run"
wait "$run"; rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: exit code $rc after SIGTERM"; exit 1; }
echo "reload: ok"
