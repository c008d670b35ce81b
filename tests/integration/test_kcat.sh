#!/usr/bin/env bash
# An outside client drives tripline: kcat produces JSON trace events to a broker (tripline's
# standalone mock cluster), `tripline run` consumes them as a consumer group, and kcat reads
# the alerts back. Checks that the alert events carry the contract's fields.
# Usage: test_kcat.sh PATH_TO_TRIPLINE (run from the repository root).
set -euo pipefail
tripline=${1:?path to the tripline binary}
command -v kcat >/dev/null || { echo "kcat not installed"; exit 1; }
work=$(mktemp -d)
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$tripline" mock --duration 120s --bootstrap-file "$work/bs" \
  --topic agent-traces:3 --topic tripline-alerts:1 --topic tripline-dlq:1 >/dev/null &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
bs=$(cat "$work/bs")
echo "mock cluster at $bs"

# 6 minutes of event time, one charge_card call every 500 ms: 50% errors in minutes 1..3.
t0=1800000000000
for i in $(seq 0 719); do
  ts=$((t0 + i * 500))
  status=ok
  if [ "$i" -ge 120 ] && [ "$i" -lt 360 ] && [ $((i % 2)) -eq 0 ]; then status=error; fi
  if [ $((i % 2)) -eq 0 ]; then stamp="$ts"; else
    stamp="\"$(date -u -d @$((ts / 1000)) +%Y-%m-%dT%H:%M:%S).$(printf %03d $((ts % 1000)))Z\""; fi
  printf 'trace-%d|{"timestamp": %s, "trace_id": "trace-%d", "service": "checkout", "kind": "tool_call", "tool": "charge_card", "status": "%s", "latency_ms": %d}\n' \
    "$i" "$stamp" "$i" "$status" $((100 + i % 40))
done > "$work/events"
echo 'bad|{"timestamp": "yesterday", "service": "checkout"}' >> "$work/events"
kcat -P -b "$bs" -t agent-traces -K '|' -l "$work/events"

timeout 90 "$tripline" run --brokers "$bs" --group kcat-test --rules tests/integration/kcat_rules.yaml \
  --exit-at-end --no-print-alerts -X log_level=3 2> "$work/run.log" || { cat "$work/run.log"; exit 1; }

kcat -C -b "$bs" -t tripline-alerts -e -q -f '%k\t%s\n' > "$work/alerts"
kcat -C -b "$bs" -t tripline-dlq -e -q -f '%h\t%s\n' > "$work/dlq"
cat "$work/alerts"
fail=0
check() { grep -q -- "$1" "$2" || { echo "FAIL: $3"; fail=1; }; }
[ "$(wc -l < "$work/alerts")" -eq 2 ] || { echo "FAIL: expected 2 alert events"; fail=1; }
check '"state":"firing"' "$work/alerts" "no firing alert"
check '"state":"resolved"' "$work/alerts" "no resolved alert"
for field in alert state timestamp service tool metric value threshold window severity owner runbook \
             summary fingerprint starts_at ends_at labels exemplar_trace_ids; do
  check "\"$field\":" "$work/alerts" "alert lacks field $field"
done
check '"alert":"KcatToolErrors"' "$work/alerts" "wrong alert name"
check '"service":"checkout"' "$work/alerts" "wrong service"
check '"tool":"charge_card"' "$work/alerts" "wrong tool"
check '"owner":"payments"' "$work/alerts" "wrong owner"
# the Kafka key is the fingerprint
while IFS=$'\t' read -r key value; do
  echo "$value" | grep -q "\"fingerprint\":\"$key\"" || { echo "FAIL: key $key is not the fingerprint"; fail=1; }
done < "$work/alerts"
check 'tripline.error.code=bad_timestamp' "$work/dlq" "dead letter lacks its error header"
check 'tripline.source.topic=agent-traces' "$work/dlq" "dead letter lacks its source header"
[ "$fail" -eq 0 ] && echo "kcat end-to-end: ok"
exit "$fail"
