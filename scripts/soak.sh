#!/usr/bin/env bash
# Soak test (issue 5, "Assurance"; not in CI): steady load with injected faults for DURATION
# (default 10m), then a comparison of what two engines paged.
#
#   scripts/soak.sh [DURATION]          e.g. scripts/soak.sh 10m, scripts/soak.sh 2m
#
# On 127.0.0.1 only: `tripline mock` (3 brokers: the input topic led by brokers 1 and 2, the
# alert and dead-letter topics by broker 3), a steady `tripline gen` (JSON, RATE events/s of
# wall time, event time about 15x faster), and two engines on the same input with their own
# groups, output topics and state directories (checkpoint every second):
#   - the reference, never killed;
#   - the victim, killed with SIGKILL KILL_MIN..KILL_MAX s (random) after each time it starts
#     consuming, and restarted at once from its checkpoint; the stops numbered in TERM_AT are
#     SIGTERM instead (a clean stop, which must exit 0 with a final checkpoint).
# Faults go to the mock through its control file (`tripline mock --help`), three per
# FAULT_EVERY s period: all brokers down for OUTAGE s (everything stalls); then request errors
# (Produce, Fetch, OffsetCommit: NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, NOT_COORDINATOR, a
# dropped connection) and every input partition's leader moved; then broker 3 alone down for
# OUTAGE s, longer than the engines' message.timeout.ms of 5 s: the input keeps flowing, alert
# deliveries fail and are retried, checkpoints wait. Both engines see the same faults. VmRSS of
# both engines (and the mock) is sampled every SAMPLE s into rss.csv.
#
# At the end the victim is killed once more while the input still arrives, the generator
# stops, and the victim's last run uses --exit-at-end (it reads to the end of every partition
# and exits once --eof-grace has passed, its watermark at the newest event); the reference is
# stopped with SIGTERM once it has read every message on the topic and its watermark has
# reached the newest event (after --eof-grace, well before --idle-timeout would move event
# time on with the wall clock). Both must stop at the same watermark.
# Then both alert topics are read with kcat and compared as tests/integration/test_restart.sh
# does: the victim's set of distinct transitions (exemplar_trace_ids aside, and the value of
# an early firing, see "compare" below) must equal the reference's. Losses (in either
# direction), a crash, an unclean SIGTERM, undelivered input, an offset reset or an evicted
# alert make the exit code 1; the last line is a one-line summary. docs/OPERATIONS.md ("Soak
# test") has the latest result.
#
# Knobs (environment): TRIPLINE (default build/tripline, built if missing), SOAK_DIR (logs,
# CSV, state; default a new /tmp/tripline-soak.XXXXXX, kept), RATE (5000), PARTITIONS (48),
# BROKERS (3), KILL_MIN/KILL_MAX (60/90), TERM_AT ("2 5"), FAULT_EVERY (120), FAULT_FIRST (45),
# OUTAGE (8), SAMPLE (10), SEED (5). The input partitions and RATE must keep the re-read tail
# within the mock's retention (5 MiB per partition: ~13,000 events of ~360 B; 48 partitions
# hold ~120 s at 5,000/s) while a killed victim rejoins its group: the mock waits for the dead
# member's session.timeout.ms (15 s) and then rebalances once more, so that takes ~30 s. An
# "offset reset" or "input gap" in an engine's log means the tail was gone, and fails the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

dur_s() { # 10m, 90s, 1h, 1h30m or plain seconds -> seconds
  local s=$1 t=0 n
  [[ $s =~ ^[0-9]+$ ]] && { echo "$s"; return; }
  while [[ $s =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in h) t=$((t + n * 3600)) ;; m) t=$((t + n * 60)) ;; s) t=$((t + n)) ;; esac
    s=${BASH_REMATCH[3]}
  done
  [ -z "$s" ] && [ "$t" -gt 0 ] || { echo "soak: bad duration '$1' (e.g. 10m, 90s)" >&2; exit 2; }
  echo "$t"
}
duration=$(dur_s "${1:-10m}")
rate=${RATE:-5000}
partitions=${PARTITIONS:-48}
brokers=${BROKERS:-3}
kill_min=${KILL_MIN:-60}
kill_max=${KILL_MAX:-90}
term_at=" ${TERM_AT:-2 5} "
fault_every=${FAULT_EVERY:-120}
fault_first=${FAULT_FIRST:-45}
outage=${OUTAGE:-8}
sample=${SAMPLE:-10}
seed=${SEED:-5}
msg_timeout_ms=5000
eof_grace=30s
idle_timeout=120s

tripline=${TRIPLINE:-build/tripline}
if [ ! -x "$tripline" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" --target tripline ||
    { echo "soak: cannot build $tripline" >&2; exit 2; }
fi
command -v kcat >/dev/null || { echo "soak: kcat is needed (apt-get install kcat)" >&2; exit 2; }
work=${SOAK_DIR:-$(mktemp -d /tmp/tripline-soak.XXXXXX)}
mkdir -p "$work/logs"
log() { printf '%s soak: %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$work/soak.log"; }
fail_reasons=()
failed() { fail_reasons+=("$1"); log "PROBLEM: $1"; }

# every process started here, by pid; a watchdog kills them past the deadline even if this
# script itself is killed
pids=()
started() { pids+=("$1"); echo "$1" >> "$work/pids"; }
: > "$work/pids"
deadline=$(( $(date +%s) + duration + 1500 ))
( while [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
  while read -r p; do kill -9 "$p" 2>/dev/null; done < "$work/pids" ) > /dev/null 2>&1 &
watchdog=$!
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  kill -9 "$watchdog" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
rss_kb() { awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print ""}' "/proc/$1/status" 2>/dev/null; }
now() { date +%s; }
now_ms() { date +%s%3N; }

# ---- the cluster ----------------------------------------------------------------------------
t_start=$(now)
"$tripline" mock --brokers "$brokers" --outage "${outage}s" --duration "$((duration + 1200))s" \
  --control "$work/control" --bootstrap-file "$work/bs" --topic "agent-traces:$partitions" \
  --topic out-ref:4 --topic out-victim:4 --topic dlq:1 > /dev/null 2> "$work/logs/mock.log" &
mock_pid=$!
started "$mock_pid"
for _ in $(seq 100); do [ -s "$work/bs" ] && break; sleep 0.1; done
[ -s "$work/bs" ] || { cat "$work/logs/mock.log"; echo "soak: the mock cluster did not start" >&2; exit 1; }
bs=$(cat "$work/bs")
ctl() { # commands for the mock, one per argument; waits (up to 10 s) until it took them
  printf '%s\n' "$@" > "$work/control.tmp" && mv "$work/control.tmp" "$work/control"
  for _ in $(seq 100); do [ -e "$work/control" ] || return 0; sleep 0.1; done
  failed "the mock did not take the commands: $*"
}
out_broker=$brokers in_brokers=$(seq -s, 1 $((brokers > 1 ? brokers - 1 : 1)))
ctl "leaders agent-traces $in_brokers" "leaders out-ref $out_broker" "leaders out-victim $out_broker" "leaders dlq $out_broker"


engine() { # group output state_dir logfile [extra flags...]; sets $epid
  local group=$1 out=$2 dir=$3 lf=$4
  shift 4
  "$tripline" run --brokers "$bs" --input agent-traces --output "$out" --dlq dlq \
    --rules rules/support-agent.yaml --rules tests/integration/probe_rules.yaml --group "$group" --threads 2 \
    --no-print-alerts --state-dir "$dir" --checkpoint-interval 1s --stats-interval 5s \
    --eof-grace "$eof_grace" --idle-timeout "$idle_timeout" \
    -X message.timeout.ms=$msg_timeout_ms -X session.timeout.ms=15000 -X heartbeat.interval.ms=1000 \
    -X reconnect.backoff.max.ms=2000 -X log_level=4 "$@" > /dev/null 2> "$lf" &
  epid=$!
  started "$epid"
}
assigned() { grep -qE "assigned [0-9]+ partitions" "$1" 2>/dev/null; }
last_stat() { # logfile key -> value of key= in the last stats (or state) line (empty if none)
  local kind=stats
  case $2 in checkpoints | failures | last_pause_ms) kind=state ;; esac
  grep -o "$kind: .*" "$1" 2>/dev/null | tail -1 | grep -oE "(^| )$2=[^ ]+" | cut -d= -f2
}

# the load first, so that every partition has data when the engines start (an engine that
# starts on empty partitions lets the first to deliver set the watermark, which depends on
# timing; so would the comparison)
"$tripline" gen --brokers "$bs" --topic agent-traces --format json --rate "$rate" --traces-per-sec 50 \
  --start 2026-01-01T00:00:00Z --duration 1000h --count $((rate * (duration + 600))) --seed "$seed" \
  -X enable.idempotence=true -X reconnect.backoff.max.ms=2000 > /dev/null 2> "$work/logs/gen.log" &
gen_pid=$!
started "$gen_pid"
t_load=$(now)
sleep 3
engine ref out-ref "$work/state-ref" "$work/logs/ref.log"
ref_pid=$epid
vrun=1
vlog() { printf '%s/logs/victim-%02d.log' "$work" "$1"; }
engine victim out-victim "$work/state-victim" "$(vlog $vrun)"
victim_pid=$epid
for _ in $(seq 600); do
  assigned "$work/logs/ref.log" && assigned "$(vlog 1)" && break
  sleep 0.1
done
assigned "$work/logs/ref.log" && assigned "$(vlog 1)" ||
  { failed "the engines did not join their groups within 60 s"; tail -5 "$work"/logs/*.log; exit 1; }
log "cluster $bs ($brokers brokers, agent-traces:$partitions on brokers $in_brokers, alerts on broker $out_broker); engines joined; work dir $work"

log "load: $rate events/s for ${duration}s; victim killed every ${kill_min}-${kill_max}s (SIGTERM at kills:$term_at); every ${fault_every}s from ${fault_first}s: all brokers down ${outage}s, then request errors and input leader moves, then broker $out_broker down ${outage}s"

# ---- steady load with faults ------------------------------------------------------------------
echo "elapsed_s,ref_rss_kb,victim_rss_kb,victim_run,mock_rss_kb" > "$work/rss.csv"
kills=0 sigkills=0 sigterms=0 restarts=0 outages=0 bursts=0 crashes=0
next_kill=$((t_load + kill_min + RANDOM % (kill_max - kill_min + 1)))
next_outage=$((t_load + fault_first))
next_burst=$((t_load + fault_first + fault_every / 3))
next_outage2=$((t_load + fault_first + 2 * fault_every / 3))
outages2=0
next_sample=$t_load
t_end=$((t_load + duration))
victim_down_since_ms=0 # set while the victim is stopped or has not joined yet
victim_terming=0 term_sent=0
max_gap_ms=0
declare -a gaps=()

start_victim() {
  vrun=$((vrun + 1))
  engine victim out-victim "$work/state-victim" "$(vlog $vrun)"
  victim_pid=$epid
  restarts=$((restarts + 1))
}

while [ "$(now)" -lt "$t_end" ]; do
  t=$(now)
  alive "$mock_pid" || { failed "the mock cluster died"; break; }
  alive "$gen_pid" || { failed "the generator stopped early: $(tail -2 "$work/logs/gen.log" | tr '\n' ' ')"; break; }
  if ! alive "$ref_pid"; then
    wait "$ref_pid"; rc=$?
    failed "the reference engine exited unexpectedly (exit code $rc): see logs/ref.log"
    crashes=$((crashes + 1))
    break
  fi
  if [ "$t" -ge "$next_sample" ]; then
    v=""; alive "$victim_pid" && v=$(rss_kb "$victim_pid")
    echo "$((t - t_load)),$(rss_kb "$ref_pid"),$v,$vrun,$(rss_kb "$mock_pid")" >> "$work/rss.csv"
    next_sample=$((next_sample + sample))
  fi
  # the victim
  if [ "$victim_terming" = 1 ]; then
    if ! alive "$victim_pid"; then
      wait "$victim_pid"; rc=$?
      ms=$(( $(now_ms) - term_sent ))
      if [ "$rc" -ne 0 ]; then failed "victim run $vrun: SIGTERM exit code $rc"; fi
      grep -q "final checkpoint written" "$(vlog $vrun)" || failed "victim run $vrun: SIGTERM without a final checkpoint"
      log "victim run $vrun stopped by SIGTERM: exit $rc after $ms ms"
      victim_terming=0
      start_victim
    elif [ $(( $(now_ms) - term_sent )) -gt 45000 ]; then
      failed "victim run $vrun: still running 45 s after SIGTERM; killing it"
      kill -9 "$victim_pid" 2>/dev/null; wait "$victim_pid" 2>/dev/null
      victim_terming=0
      start_victim
    fi
  elif ! alive "$victim_pid"; then
    wait "$victim_pid"; rc=$?
    failed "victim run $vrun exited by itself (exit code $rc): see $(vlog $vrun)"
    crashes=$((crashes + 1))
    [ "$victim_down_since_ms" -gt 0 ] || victim_down_since_ms=$(now_ms)
    start_victim
  elif [ "$victim_down_since_ms" -gt 0 ] && assigned "$(vlog $vrun)"; then
    gap=$(( $(now_ms) - victim_down_since_ms ))
    gaps+=("$gap")
    [ "$gap" -gt "$max_gap_ms" ] && max_gap_ms=$gap
    next_kill=$(( $(now) + kill_min + RANDOM % (kill_max - kill_min + 1) ))
    log "victim run $vrun consuming again, $gap ms after it was stopped ($(grep -oE "restored checkpoint written [^:]*|no checkpoint in" "$(vlog $vrun)" | head -1))"
    victim_down_since_ms=0
  elif [ "$t" -ge "$next_kill" ] && [ "$victim_down_since_ms" = 0 ]; then
    kills=$((kills + 1))
    victim_down_since_ms=$(now_ms)
    if [[ $term_at == *" $kills "* ]]; then
      sigterms=$((sigterms + 1))
      log "kill $kills: SIGTERM to victim run $vrun (pid $victim_pid)"
      term_sent=$(now_ms)
      kill -TERM "$victim_pid" 2>/dev/null
      victim_terming=1
    else
      sigkills=$((sigkills + 1))
      log "kill $kills: SIGKILL to victim run $vrun (pid $victim_pid)"
      kill -9 "$victim_pid" 2>/dev/null; wait "$victim_pid" 2>/dev/null
      start_victim
    fi
  fi
  # broker faults
  if [ "$t" -ge "$next_outage" ]; then
    outages=$((outages + 1))
    log "outage: all brokers down for ${outage}s"
    ctl "outage all ${outage}s"
    next_outage=$((next_outage + fault_every))
  fi
  if [ "$t" -ge "$next_burst" ]; then
    bursts=$((bursts + 1))
    log "request errors and input leader moves"
    ctl "errors 4" "leaders agent-traces $in_brokers"
    next_burst=$((next_burst + fault_every))
  fi
  if [ "$t" -ge "$next_outage2" ] && [ "$brokers" -gt 1 ]; then
    outages2=$((outages2 + 1))
    log "outage: broker $out_broker (alert topics) down for ${outage}s"
    ctl "outage $out_broker ${outage}s"
    next_outage2=$((next_outage2 + fault_every))
  fi
  sleep 1
done

# ---- drain ------------------------------------------------------------------------------------
# The victim's last stop is a SIGKILL while the input still arrives, so that its last run
# (--exit-at-end) re-reads a tail that holds the newest event of every partition: an engine
# restored from a checkpoint that already covers all the input has nothing to read, and so
# never learns the newest event time and stops at the checkpoint's watermark.
log "load phase over after $(( $(now) - t_load ))s"
if [ "$victim_terming" = 1 ]; then
  for _ in $(seq 450); do alive "$victim_pid" || break; sleep 0.1; done
  wait "$victim_pid"; rc=$?
  [ "$rc" -eq 0 ] || failed "victim run $vrun: SIGTERM exit code $rc"
  grep -q "final checkpoint written" "$(vlog $vrun)" || failed "victim run $vrun: SIGTERM without a final checkpoint"
  victim_terming=0
else
  kills=$((kills + 1)) sigkills=$((sigkills + 1))
  [ "$victim_down_since_ms" -gt 0 ] || victim_down_since_ms=$(now_ms)
  log "kill $kills (last): SIGKILL to victim run $vrun (pid $victim_pid)"
  kill -9 "$victim_pid" 2>/dev/null; wait "$victim_pid" 2>/dev/null
fi
sleep 3
log "stopping the generator"
kill -TERM "$gen_pid" 2>/dev/null
for _ in $(seq 600); do alive "$gen_pid" || break; sleep 0.1; done
alive "$gen_pid" && { failed "the generator did not stop within 60 s"; kill -9 "$gen_pid"; }
wait "$gen_pid"; gen_rc=$?
t_gen_stop=$(now)
gen_line=$(grep "gen: produced" "$work/logs/gen.log" | tail -1)
produced=$(sed -nE 's/.*produced ([0-9]+) events.*/\1/p' <<< "$gen_line")
undelivered=$(sed -nE 's/.* ([0-9]+) not delivered.*/\1/p' <<< "$gen_line")
produced=${produced:-0} undelivered=${undelivered:-0}
delivered=$((produced - undelivered))
log "generator: ${gen_line:-no summary line} (exit $gen_rc)"
[ "$undelivered" -eq 0 ] && [ "$produced" -gt 0 ] || failed "generator: $undelivered of $produced events not delivered"
in_high=0 in_low=0
for p in $(seq 0 $((partitions - 1))); do
  h=$(timeout 20 kcat -Q -b "$bs" -t "agent-traces:$p:-1" 2>/dev/null | grep -oE "offset -?[0-9]+" | awk '{print $2}')
  l=$(timeout 20 kcat -Q -b "$bs" -t "agent-traces:$p:-2" 2>/dev/null | grep -oE "offset -?[0-9]+" | awk '{print $2}')
  in_high=$((in_high + ${h:-0})) in_low=$((in_low + ${l:-0}))
done
[ "$in_high" -ge "$delivered" ] || failed "the input topic holds $in_high messages, the generator delivered $delivered"

# the victim's last run: to the end of the input
vrun=$((vrun + 1))
restarts=$((restarts + 1))
log "victim run $vrun: --exit-at-end"
vt0=$(now)
timeout -s KILL 600 "$tripline" run --brokers "$bs" --input agent-traces --output out-victim --dlq dlq \
  --rules rules/support-agent.yaml --rules tests/integration/probe_rules.yaml --group victim --threads 2 \
  --no-print-alerts --state-dir "$work/state-victim" --checkpoint-interval 1s --stats-interval 5s \
  --eof-grace "$eof_grace" --idle-timeout "$idle_timeout" --exit-at-end \
  -X message.timeout.ms=$msg_timeout_ms -X session.timeout.ms=15000 -X heartbeat.interval.ms=1000 \
  -X reconnect.backoff.max.ms=2000 -X log_level=4 > /dev/null 2> "$(vlog $vrun)" &
final_pid=$!
started "$final_pid"

# the reference: once it has read every event produced, wait for its watermark to reach the
# last event (eof-grace) and stay there, then stop it
caught=0
for _ in $(seq 240); do
  m=$(last_stat "$work/logs/ref.log" messages)
  [ "${m:-0}" -ge "$in_high" ] && { caught=1; break; }
  alive "$ref_pid" || break
  sleep 0.5
done
[ "$caught" = 1 ] || failed "the reference read ${m:-0} of $in_high messages within 120 s"
sleep "${eof_grace%s}"
prev=""
for _ in $(seq 12); do # two stats lines in a row with the same watermark and message count
  cur="$(last_stat "$work/logs/ref.log" messages) $(last_stat "$work/logs/ref.log" watermark)"
  [ "$cur" = "$prev" ] && break
  prev=$cur
  sleep 5.5
done
idle_left=$(( ${idle_timeout%s} - ($(now) - t_gen_stop) ))
[ "$idle_left" -gt 5 ] || failed "the reference is stopped only ${idle_left}s before its idle timeout"
log "reference caught up (messages, watermark: $cur): SIGTERM"
kill -TERM "$ref_pid" 2>/dev/null
for _ in $(seq 450); do alive "$ref_pid" || break; sleep 0.1; done
alive "$ref_pid" && { failed "the reference still runs 45 s after SIGTERM"; kill -9 "$ref_pid"; }
wait "$ref_pid"; rc=$?
[ "$rc" -eq 0 ] || failed "reference: SIGTERM exit code $rc"

wait "$final_pid"; rc=$?
log "victim run $vrun ended after $(( $(now) - vt0 ))s, exit $rc"
a=$(grep -m1 -oE "^[0-9T:.-]+Z INFO  assigned" "$(vlog $vrun)" | cut -d' ' -f1)
if [ -n "$a" ]; then
  gap=$(( $(date -d "$a" +%s%3N) - victim_down_since_ms ))
  gaps+=("$gap"); [ "$gap" -gt "$max_gap_ms" ] && max_gap_ms=$gap
fi
ref_wm=$(last_stat "$work/logs/ref.log" watermark) vic_wm=$(last_stat "$(vlog $vrun)" watermark)
[ "$ref_wm" = "$vic_wm" ] || failed "the engines stopped at different watermarks: reference $ref_wm, victim $vic_wm"
[ "$rc" -eq 0 ] || failed "victim run $vrun (--exit-at-end): exit code $rc"
grep -q "every assigned partition is at its end" "$(vlog $vrun)" || failed "victim run $vrun did not reach the end"

# ---- compare ----------------------------------------------------------------------------------
# As test_restart.sh: every alert of the reference and nothing else, example traces aside. Two
# refinements: alerts about tripline itself (Tripline*: heartbeat, checkpoint failures, ...) are
# wall-clock facts of each process and are counted apart; and an early firing's `value` (with
# value_text and summary) is "the value over the open slot at the moment it fired, so a replay
# may report a slightly different value" (docs/RULES.md 6.2), so for the early rules in
# EARLY_RULES those fields may differ while the transition is the same. A loss is a
# transition (all other fields) that one engine has and the other has not. Files:
# missing-from-victim, extra-in-victim, value-differs (the transitions, value fields removed).
early_rules=${EARLY_RULES:-PolicyViolation InjectionThenRiskyTool}
norm() { timeout 120 kcat -C -b "$bs" -t "$1" -e -q | sed -E 's/"exemplar_trace_ids":\[[^]]*\]//'; }
ident() { # the transition without the early-firing value fields
  sed -E 's/"value":[^,]*,"value_text":"([^"\\]|\\.)*"//; s/"summary":"([^"\\]|\\.)*"//' "$1"
}
for e in ref victim; do
  norm "out-$e" > "$work/$e.all"
  grep -v '^{"alert":"Tripline' "$work/$e.all" | sort > "$work/$e.alerts"
  grep '^{"alert":"Tripline' "$work/$e.all" > "$work/$e.self" || true
  sort -u "$work/$e.alerts" > "$work/$e.u"
  ident "$work/$e.u" | sort -u > "$work/$e.ident"
done
for t in out-ref out-victim; do
  for p in 0 1 2 3; do
    l=$(timeout 20 kcat -Q -b "$bs" -t "$t:$p:-2" 2>/dev/null | grep -oE "offset -?[0-9]+" | awk '{print $2}')
    [ "${l:-0}" -eq 0 ] || failed "${t}[$p]: the mock's retention dropped alerts (first offset $l)"
  done
done
comm -23 "$work/ref.ident" "$work/victim.ident" > "$work/missing-from-victim"
comm -13 "$work/ref.ident" "$work/victim.ident" > "$work/extra-in-victim"
# same transition, other value: allowed for early firings only
comm -23 "$work/ref.u" "$work/victim.u" > "$work/ref-only"
comm -13 "$work/ref.u" "$work/victim.u" > "$work/victim-only"
{ ident "$work/ref-only"; ident "$work/victim-only"; } | sort -u | comm -12 - "$work/ref.ident" |
  comm -12 - "$work/victim.ident" > "$work/value-differs"
grep -o '^{"alert":"[^"]*"' "$work/value-differs" | cut -d'"' -f4 | sort | uniq -c > "$work/value-differences" || true
value_diffs=$(wc -l < "$work/value-differs") value_bad=0
while read -r n rule; do
  [[ " $early_rules " == *" $rule "* ]] || value_bad=$((value_bad + n))
done < "$work/value-differences"
n_ref=$(wc -l < "$work/ref.alerts") n_ref_u=$(wc -l < "$work/ref.ident")
n_vic=$(wc -l < "$work/victim.alerts") n_vic_u=$(wc -l < "$work/victim.ident")
lost=$(wc -l < "$work/missing-from-victim") extra=$(wc -l < "$work/extra-in-victim")
idconf() { # a transition (and re-send number) with two different contents
  grep -oE '"transition_id":"[^"]*"|"resend":[0-9]+' "$1" | paste -d' ' - - | sort | uniq -d | wc -l
}
conf_ref=$(idconf "$work/ref.ident") conf_vic=$(idconf "$work/victim.ident")
[ "$n_ref_u" -ge 100 ] || failed "only $n_ref_u reference alerts: the comparison would be vacuous"
[ "$lost" -eq 0 ] || failed "$lost reference alerts missing from the victim (missing-from-victim)"
[ "$extra" -eq 0 ] || failed "$extra victim alerts the reference does not have (extra-in-victim)"
[ "$conf_ref" -eq 0 ] && [ "$conf_vic" -eq 0 ] ||
  failed "transition ids with different contents: reference $conf_ref, victim $conf_vic"
[ "$lost" -gt 0 ] || [ "$extra" -gt 0 ] || [ "$value_bad" -eq 0 ] ||
  failed "values differ in alerts of rules that do not fire early: $(tr -s ' \n' ' ' < "$work/value-differences")"
self_counts() { grep -o '^{"alert":"[^"]*","state":"[^"]*"' "$1" | sed -E 's/.*"alert":"([^"]*)","state":"([^"]*)"/\1 \2/' |
  sort | uniq -c | awk '{printf "%s%s %s x%d", (NR > 1 ? ", " : ""), $2, $3, $1} END {if (!NR) printf "none"}'; }
rss_minutes() { # column -> the largest sample of each minute of load, MiB
  awk -F, -v c="$1" 'NR > 1 && $c != "" { m = int($1 / 60); v = $c / 1024; if (!(m in mx) || v > mx[m]) mx[m] = v; if (m > last) last = m }
    END { for (i = 0; i <= last; i++) printf "%s%s", (i ? " " : ""), (i in mx) ? sprintf("%.0f", mx[i]) : "-" }' "$work/rss.csv"
}

# ---- report -----------------------------------------------------------------------------------
sum_runs() { # key -> sum over the victim's runs of the last stats value
  local s=0 v
  for f in "$work"/logs/victim-*.log; do v=$(last_stat "$f" "$1"); s=$((s + ${v:-0})); done
  echo "$s"
}
rss_stats() { # column -> min max last (MiB)
  awk -F, -v c="$1" 'NR > 1 && $c != "" { v = $c / 1024; if (n == 0 || v < mn) mn = v; if (v > mx) mx = v; last = v; n++ }
    END { if (n) printf "min %.1f max %.1f last %.1f MiB (%d samples)", mn, mx, last, n; else printf "no samples" }' "$work/rss.csv"
}
ref_msgs=$(last_stat "$work/logs/ref.log" messages) ref_events=$(last_stat "$work/logs/ref.log" events)
[ "${ref_msgs:-0}" -ge "$in_high" ] || failed "the reference consumed ${ref_msgs:-0} of $in_high messages"
# librdkafka's own reset (while running), or tripline's input gap check at an assignment
resets=$(cat "$work"/logs/ref.log "$work"/logs/victim-*.log | grep -c -E "offset reset|ERROR input gap:" || true)
[ "$resets" -eq 0 ] || failed "$resets offset resets: an engine fell behind the mock's retention and skipped input (grep -E 'offset reset|input gap' logs/)"
restored=$(cat "$work"/logs/victim-*.log | grep -c "restored checkpoint")
retained_s=$(awk -v n=$((in_high - in_low)) -v r="$rate" 'BEGIN { printf "%.0f", n / r }')
gap_list=$(IFS=,; echo "${gaps[*]:-}")
{
  echo
  echo "== soak result ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load ${duration}s, total $(( $(now) - t_start ))s)"
  echo "events: produced $produced, not delivered $undelivered; input topic: $in_high messages ($((in_high - delivered)) duplicates from producer retries), the last $((in_high - in_low)) retained (~${retained_s}s of load)"
  echo "reference: messages $ref_msgs, events $ref_events, alerts produced $(last_stat "$work/logs/ref.log" alerts), acked $(last_stat "$work/logs/ref.log" acked), delivery retries $(last_stat "$work/logs/ref.log" retries), late $(last_stat "$work/logs/ref.log" late), checkpoints $(last_stat "$work/logs/ref.log" checkpoints) (deferred $(last_stat "$work/logs/ref.log" failures)), watermark $(last_stat "$work/logs/ref.log" watermark)"
  echo "victim ($vrun runs; a killed run counted up to its last stats line): messages $(sum_runs messages), events $(sum_runs events), alerts produced $(sum_runs alerts), acked $(sum_runs acked), delivery retries $(sum_runs retries), late $(sum_runs late), checkpoints $(sum_runs checkpoints) (deferred $(sum_runs failures)), final watermark $(last_stat "$(vlog $vrun)" watermark)"
  echo "faults: $kills victim stops ($sigkills SIGKILL, $sigterms SIGTERM), $restarts restarts ($restored from a checkpoint), $crashes unexpected exits; $outages outages of all brokers and $outages2 of the alert topics' broker (${outage}s each), $bursts request-error bursts with input leader moves; offset resets $resets"
  echo "victim downtime per stop (stop to consuming again, ms): ${gap_list:-none}"
  echo "alerts on the topics: reference $n_ref ($n_ref_u distinct transitions, $((n_ref - n_ref_u)) repeats), victim $n_vic ($n_vic_u distinct, $((n_vic - n_vic_u)) repeats); about tripline itself: reference $(self_counts "$work/ref.self"), victim $(self_counts "$work/victim.self")"
  echo "losses: $lost reference transitions missing from the victim, $extra victim transitions not in the reference; transition ids with two contents: $conf_ref / $conf_vic; transitions whose value differs: $value_diffs ($(tr -s ' \n' ' ' < "$work/value-differences"| sed 's/^ //'))"
  echo "RSS reference: $(rss_stats 2)"
  echo "RSS victim:    $(rss_stats 3) (per run; resets at each restart)"
  echo "RSS mock:      $(rss_stats 5)"
  echo "RSS per minute of load (largest sample, MiB): reference $(rss_minutes 2); victim $(rss_minutes 3); mock $(rss_minutes 5)"
  echo "files: $work (soak.log, rss.csv, logs/, ref.alerts, victim.alerts)"
} | tee -a "$work/soak.log"
if [ "${#fail_reasons[@]}" -eq 0 ]; then
  summary="SOAK OK: ${duration}s, $produced events, $n_ref_u alerts, 0 lost, $kills kills ($sigterms SIGTERM), $((outages + outages2)) outages, $bursts error bursts, RSS max ref $(rss_stats 2 | awk '{print $4}') / victim $(rss_stats 3 | awk '{print $4}') MiB"
  echo "$summary" | tee -a "$work/soak.log"
  exit 0
fi
summary="SOAK FAILED: ${#fail_reasons[@]} problem(s): $(printf '%s; ' "${fail_reasons[@]}")"
echo "$summary" | tee -a "$work/soak.log"
exit 1
