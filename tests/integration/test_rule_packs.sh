#!/usr/bin/env bash
# The shipped rule packs pass their unit tests: `tripline test rules/tests` (docs/RULES.md §11),
# and the command's exit codes hold: 4 for a failing test, 3 for an invalid test file, 2 for
# usage errors. Usage: test_rule_packs.sh PATH_TO_TRIPLINE (run from the repository root).
set -euo pipefail
tripline=${1:?path to the tripline binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

out=$("$tripline" test rules/tests)
echo "$out"
grep -Eq '^ok: [0-9]+ tests in [0-9]+ files?$' <<<"$out" || { echo "no ok summary line"; exit 1; }

# Every rule of every pack has a test that names it.
for pack in rules/*.yaml; do
  for rule in $(sed -n 's/^  - name: *//p' "$pack"); do
    grep -q "alert: $rule[,} ]" rules/tests/*.test.yaml || { echo "rule $rule in $pack has no test"; exit 1; }
  done
done

expect_rc() { # expect_rc WANT CMD...
  local want=$1 rc=0
  shift
  "$@" >"$work/out" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then echo "exit $rc, expected $want: $*"; cat "$work/out"; exit 1; fi
}

pack=$(pwd)/rules/support-agent.yaml
cat >"$work/fail.test.yaml" <<YAML
rule_files: [$pack]
tests:
  - name: wrong expectation
    events: ["every 1s for 12m: tool_call get_order_status service=bot status=ok, 18% status=error"]
    expect: [{at: 5m, alert: ToolErrorRateGetOrderStatus, state: firing}]
YAML
expect_rc 4 "$tripline" test "$work/fail.test.yaml"
grep -q "fail.test.yaml:5:14: test 'wrong expectation': at 5m expected ToolErrorRateGetOrderStatus firing, seen: inactive" "$work/out"
grep -q '^FAIL: 1 of 1 tests$' "$work/out"

sed 's/state: firing/stat: firing/' "$work/fail.test.yaml" >"$work/bad.test.yaml"
expect_rc 3 "$tripline" test "$work/bad.test.yaml"
grep -q "bad.test.yaml:5:.*unknown key 'stat' (did you mean 'state'?)" "$work/out"

expect_rc 2 "$tripline" test
expect_rc 2 "$tripline" test --no-such-flag rules/tests
expect_rc 0 "$tripline" test --verbose rules/tests
grep -q 'FIRING .*ToolErrorRateGetOrderStatus{service=support-bot,tool=get_order_status}' "$work/out"
echo "rule packs: ok"
