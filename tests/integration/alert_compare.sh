# tests/integration/alert_compare.sh - sourced by test_restart.sh and test_standby.sh: the
# alerts of an engine that was interrupted (killed, restarted, handed over) must be the alerts
# of a reference engine that read the same topic without interruption.
#
# compare_alerts BOOTSTRAP REF_TOPIC TOPIC WORKDIR: every alert of the reference, and nothing
# else; example traces aside (which of several equally good traces a window keeps may depend
# on arrival order). The value of a first firing (timestamp = starts_at) is compared only by
# identity and time: a rule without `for` may fire from an early evaluation of the current,
# partial slot, whose value depends on how far the other partitions had been read at that
# moment, interruption or not. Re-notifications and resolutions come from closed slots and are
# compared whole. Repeats must be exact copies: one content per notification (transition_id,
# and for resolved alerts the re-send number, which the re-sends of one resolution share their
# id with). Sets NREF and NDELIVERED; returns 1 with the reason on stdout.
norm_alerts() {
  kcat -C -b "$1" -t "$2" -e -q | sed -E 's/"exemplar_trace_ids":\[[^]]*\]//' |
    sed -E '/"state":"firing","timestamp":"([^"]*)".*"starts_at":"\1"/ {
      s/"value":[^,]*,"value_text":"[^"]*"/"value":"first","value_text":"first"/
      s/"summary":"([^"\\]|\\.)*"/"summary":"first"/
    }'
}

compare_alerts() {
  local bs=$1 ref=$2 got=$3 dir=$4
  norm_alerts "$bs" "$ref" | sort > "$dir/cmp.ref"
  norm_alerts "$bs" "$got" | sort > "$dir/cmp.got"
  sort -u "$dir/cmp.ref" > "$dir/cmp.ref.u"
  sort -u "$dir/cmp.got" > "$dir/cmp.got.u"
  NREF=$(wc -l < "$dir/cmp.ref")
  NDELIVERED=$(wc -l < "$dir/cmp.got")
  [ "$NREF" -ge 100 ] || { echo "only $NREF reference alerts: the comparison would be vacuous"; return 1; }
  [ "$NREF" -eq "$(wc -l < "$dir/cmp.ref.u")" ] || { echo "the reference itself has repeats"; return 1; }
  if ! diff "$dir/cmp.ref.u" "$dir/cmp.got.u" > "$dir/cmp.diff"; then
    echo "the alerts differ from the reference ('<' reference only, '>' $got only):"
    head -20 "$dir/cmp.diff"
    return 1
  fi
  local ids
  ids=$(sed -E 's/.*("transition_id":"[^"]*").*("resend":[0-9]+).*/\1 \2/' "$dir/cmp.got.u" | sort | uniq -d | wc -l)
  [ "$ids" -eq 0 ] || { echo "$ids transition ids with different contents"; return 1; }
  return 0
}
