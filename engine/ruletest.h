/* engine/ruletest.h - unit tests for alert rules: YAML files of event timelines and the
 * alerts they must (or must not) produce, run by `tripline test`.
 *
 * Why: a rule is only trustworthy once someone has seen it fire on the incident it is meant
 * for and stay quiet on the near miss (below threshold, too few events, `for` not reached).
 * Reading the rule does not tell; running it does. A test file names rule files, describes
 * events in a compact notation, and states the alert state expected at chosen offsets:
 *
 *   rule_files: [../support-agent.yaml]      # relative to the test file's directory
 *   start: 2026-01-01T00:00:00Z              # event-time origin (this is the default)
 *   tests:
 *     - name: order tool outage fires
 *       eval: 10s                            # watermark step (default 10s)
 *       until: 30m                           # default: max(last event + 10m, latest `at`)
 *       events:
 *         - "every 1s for 12m: tool_call get_order_status service=bot status=ok, 18% status=error"
 *       expect:
 *         - {at: 10m30s, alert: ToolErrorRateGetOrderStatus, state: firing, value: 0.18, tolerance: 0.02}
 *
 * Event lines: `at D: SPEC`, `every D for L [from T]: SPEC`, `every D from T1 to T2: SPEC`
 * (T2 exclusive), then optional `, P% TOKENS` clauses applied to that share of the events,
 * spread evenly (an accumulator per clause, so 18% of 720 events is 129 of them, the first
 * being the 6th). SPEC tokens: `key=value` for any event field, `flags=a,b`, `attr.KEY=v`
 * (or `attributes.KEY=v`), `trace=ID`; bare words: kind, then tool (tool_call) or model
 * (llm_call); values may be double-quoted. An override token replaces the same field (flags
 * replace the whole list; attributes replace the same key). Events without a trace id get
 * "t<n>", n their 1-based position in folding order.
 *
 * Run: per test, a fresh router and shard over the file's compiled rules; the watermark moves
 * from `start` to `start + until` in `eval` steps (and `until` itself), and at each step every
 * event with ts <= step is folded (time order, then line order) before tl_shard_evaluate(step).
 * Every alert event is recorded. An expectation at T reads, per matching instance (same rule,
 * labels a superset of the expected ones), the latest alert event stamped <= T: `firing`
 * passes when some instance's latest is firing (and its value matches, if given); `resolved`
 * when none is firing and some instance's latest is resolved; `inactive` when none is firing.
 * Early firings are stamped at the end of the open slot, so they count from that time on.
 *
 * Re-sends of resolved notifications (the engine's alerts.resend_resolved_for) are off in
 * tests, so a timeline shows each transition once. A test enables them with
 * `resend_resolved_for: 15m` (and `resend_interval: 5m`, the default); an expectation
 * `{state: resolved, resend: N}` then also requires the instance's latest event to be the
 * N-th re-send (0: the original), and --verbose marks re-sends "[resend N]".
 *
 * Errors (file and rules) are `file:line:col: message`, collected like tl_rules_load's; an
 * error inside an event line points at the character (and says its offset in the line).
 * Ownership: a tl_ruletest_file owns its compiled program, tests and recorded alerts.
 * Threading: single-threaded (a CLI command).
 */
#ifndef TL_RULETEST_H
#define TL_RULETEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"
#include "tripline/event.h"

#define TL_RULETEST_MAX_EVENTS 5000000 /* per test, after expanding `every` lines */
#define TL_RULETEST_MAX_CLAUSES 16     /* `, P% ...` clauses per event line */

typedef struct tl_ruletest_file tl_ruletest_file;

typedef struct tl_ruletest_load_opts {
    tl_rules_opts rules;    /* how rule files are compiled (cmd_test: as `tripline check`) */
    const char *rules_yaml; /* unit tests: compile this text instead of `rule_files` */
} tl_ruletest_load_opts;

typedef struct tl_ruletest_run_opts {
    FILE *out;   /* failures (and with verbose, every alert event) go here; NULL: stdout */
    int verbose;
} tl_ruletest_run_opts;

typedef struct tl_ruletest_report {
    int tests;   /* tests run */
    int failed;  /* tests with at least one failed expectation */
    int expectations_failed;
} tl_ruletest_report;

/* Load a test file: parse it, compile its rule files, check every expectation names a rule
 * and labels it has. Returns NULL when there is any error; errs holds them, one per line. */
tl_ruletest_file *tl_ruletest_load(const char *path, const tl_ruletest_load_opts *opts,
                                   tl_rules_errors *errs);
/* Same for text in memory; `path` is used for messages and to resolve rule_files. */
tl_ruletest_file *tl_ruletest_load_string(const char *path, const char *text, size_t len,
                                          const tl_ruletest_load_opts *opts, tl_rules_errors *errs);
void tl_ruletest_destroy(tl_ruletest_file *f);

/* Run every test; adds to *rep (not cleared). Returns the number of failed tests. */
int tl_ruletest_run(tl_ruletest_file *f, const tl_ruletest_run_opts *opts, tl_ruletest_report *rep);

size_t tl_ruletest_ntests(const tl_ruletest_file *f);
/* Expanded events of test i (0 if out of range). */
size_t tl_ruletest_nevents(const tl_ruletest_file *f, size_t test);

/* Expand one event line at offsets from `start_ms`, calling fn for every event in time order
 * (the tl_event and its strings are valid during the call only; no trace id is generated).
 * Returns the number of events, or -1 with the 0-based offset of the problem in *err_off and
 * a message in err. */
typedef void (*tl_ruletest_event_fn)(void *ctx, const tl_event *ev);
long tl_ruletest_expand(const char *line, size_t len, int64_t start_ms, tl_ruletest_event_fn fn,
                        void *ctx, size_t *err_off, char *err, size_t errcap);

#endif
