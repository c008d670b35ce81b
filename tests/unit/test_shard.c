/* tests/unit/test_shard.c - the evaluator's semantics, as event timelines: `for`, minimum
 * events, resolve on recovery, re-notification, fingerprints, exemplars, lateness, and the
 * three alerts the example pack must express. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "timeline.h"

#define T0 (1800000000000LL) /* an arbitrary event-time origin, a multiple of every slot */

static const char tool_rule[] =
    "rules:\n"
    "  - name: ToolErr\n"
    "    filter: kind == \"tool_call\" and tool == \"get_order_status\"\n"
    "    group_by: [service, tool]\n"
    "    value: ratio(status != \"ok\")\n"
    "    window: 5m\n"
    "    slot: 10s\n"
    "    threshold: \"> 10%\"\n"
    "    min_events: 20\n"
    "    for: 10m\n"
    "    severity: critical\n"
    "    owner: orders\n"
    "    runbook: r.md\n"
    "    summary: \"{{tool}} errors {{value}} on {{service}}\"\n";

#define TOOL_OK "kind=tool_call service=bot tool=get_order_status status=ok"

/* "tool error rate > 10% for 10 minutes": 18% errors from t=0 fires once the condition has
 * held for 10m, and not before. */
static void test_shard_for_delays_firing(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    tl_tl_every(t, T0, T0 + 15 * MIN, SEC, TOOL_OK, 0.18, "status=error");
    tl_tl_run(t, T0, T0 + 15 * MIN, SEC);
    const tl_tl_alert *f = tl_tl_find(t, "ToolErr", TL_ALERT_FIRING);
    assert_non_null(f);
    /* pending starts once 20 events are in the window (t=19s) and the ratio is > 10% */
    assert_true(f->ts >= T0 + 10 * MIN);
    assert_true(f->ts <= T0 + 10 * MIN + 30 * SEC);
    assert_int_equal(f->starts_at, f->ts);
    assert_int_equal(f->ends_at, -1);
    assert_true(fabs(f->value - 0.18) < 0.02);
    assert_string_equal(f->labels, "service=bot,tool=get_order_status");
    assert_true(strstr(f->summary, "get_order_status errors 18") != NULL);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_FIRING), 1);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_RESOLVED), 0);
    tl_tl_free(t);
}

/* One evaluation where the condition does not hold resets the pending timer. */
static void test_shard_for_resets_on_a_single_miss(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    /* errors for 6 minutes (pending from ~0:19), then clean calls that drop the 5m ratio
     * under 10% at ~9:20, before the 10m `for` is reached; errors again from 12m: the `for`
     * restarts with the second burst (pending from ~13:40, firing at ~23:40) */
    tl_tl_every(t, T0, T0 + 6 * MIN, SEC, TOOL_OK, 0.30, "status=error");
    tl_tl_every(t, T0 + 6 * MIN, T0 + 12 * MIN, SEC, TOOL_OK, 0.0, NULL);
    tl_tl_every(t, T0 + 12 * MIN, T0 + 30 * MIN, SEC, TOOL_OK, 0.30, "status=error");
    tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "ToolErr", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_true(f->ts >= T0 + 23 * MIN && f->ts <= T0 + 24 * MIN + 30 * SEC);
    tl_tl_free(t);
}

/* Below min_events nothing fires, even at a 100% error ratio. */
static void test_shard_min_events_gate(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    /* one call every 20 s: at most 15 in a 5m window, all errors */
    tl_tl_every(t, T0, T0 + 30 * MIN, 20 * SEC, TOOL_OK " status=error", 0, NULL);
    tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_nalerts(t), 0);
    tl_tl_free(t);
}

/* Resolve follows recovery: once errors stop, the window drains and one resolved event is
 * emitted with ends_at and the same fingerprint. */
static void test_shard_resolves_after_recovery(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    tl_tl_every(t, T0, T0 + 20 * MIN, SEC, TOOL_OK, 0.40, "status=error");
    tl_tl_every(t, T0 + 20 * MIN, T0 + 40 * MIN, SEC, TOOL_OK, 0.0, NULL);
    tl_tl_run(t, T0, T0 + 40 * MIN, SEC);
    const tl_tl_alert *f = tl_tl_find(t, "ToolErr", TL_ALERT_FIRING);
    const tl_tl_alert *r = tl_tl_find(t, "ToolErr", TL_ALERT_RESOLVED);
    assert_non_null(f);
    assert_non_null(r);
    assert_true(r->ts > f->ts);
    /* 40% errors drain below 10% when less than a quarter of the window is bad: ~3m45s after */
    assert_true(r->ts >= T0 + 23 * MIN && r->ts <= T0 + 25 * MIN);
    assert_int_equal(r->ends_at, r->ts);
    assert_int_equal(r->starts_at, f->starts_at);
    assert_string_equal(r->fingerprint, f->fingerprint);
    assert_string_not_equal(r->transition_id, f->transition_id);
    assert_true(r->value <= 0.10);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_FIRING), 1);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_RESOLVED), 1);
    tl_tl_free(t);
}

/* When traffic stops entirely the rule has too few events and the alert resolves. */
static void test_shard_resolves_when_data_stops(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    tl_tl_every(t, T0, T0 + 15 * MIN, SEC, TOOL_OK, 0.5, "status=error");
    tl_tl_run(t, T0, T0 + 25 * MIN, 10 * SEC);
    const tl_tl_alert *r = tl_tl_find(t, "ToolErr", TL_ALERT_RESOLVED);
    assert_non_null(r);
    assert_true(r->ts > T0 + 15 * MIN && r->ts <= T0 + 21 * MIN);
    tl_tl_free(t);
}

static const char policy_rule[] =
    "rules:\n"
    "  - name: Policy\n"
    "    group_by: [service]\n"
    "    value: ratio(flags contains \"policy_violation\")\n"
    "    window: 30m\n"
    "    slot: 10s\n"
    "    threshold: \"> 0\"\n"
    "    min_events: 1\n"
    "    severity: critical\n"
    "    owner: tns\n"
    "    runbook: r.md\n"
    "    renotify_interval: 10m\n"
    "    summary: \"{{service}} policy violation\"\n";

/* "policy violation rate > 0 in the last 30 minutes": one event fires at once (early: the
 * firing is stamped with the end of its 10 s slot but emitted by the evaluation right after
 * the event), the alert re-notifies every 10m while firing, and resolves 30m after. */
static void test_shard_policy_violation_fires_renotifies_resolves(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(policy_rule);
    tl_tl_every(t, T0, T0 + 60 * MIN, SEC, "kind=llm_call service=bot", 0, NULL);
    tl_tl_event(t, T0 + 5 * MIN + 500, "kind=llm_call service=bot flags=policy_violation trace=abc123");
    tl_tl_run(t, T0, T0 + 60 * MIN, SEC);
    const tl_tl_alert *f = tl_tl_find(t, "Policy", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_int_equal(f->ts, T0 + 5 * MIN + 10 * SEC);
    assert_int_equal(f->emitted_wm, T0 + 5 * MIN + SEC);
    assert_int_equal(f->n_exemplars, 1);
    assert_string_equal(f->exemplar0, "abc123");
    /* re-notifications at +10m and +20m, with new transition ids and the same fingerprint */
    assert_int_equal(tl_tl_count(t, "Policy", TL_ALERT_FIRING), 3);
    const tl_tl_alert *again = NULL;
    for (size_t i = 0; i < tl_tl_nalerts(t); i++)
        if (tl_tl_alert_at(t, i)->state == TL_ALERT_FIRING && tl_tl_alert_at(t, i) != f)
            again = again ? again : tl_tl_alert_at(t, i);
    assert_non_null(again);
    assert_string_equal(again->fingerprint, f->fingerprint);
    assert_string_not_equal(again->transition_id, f->transition_id);
    assert_int_equal(again->starts_at, f->starts_at);
    const tl_tl_alert *r = tl_tl_find(t, "Policy", TL_ALERT_RESOLVED);
    assert_non_null(r);
    /* window 30m of 10 s slots: the violation's slot leaves the window 180 slots later */
    assert_int_equal(r->ts, T0 + 35 * MIN + 10 * SEC);
    tl_tl_free(t);
}

/* A partition running ahead of the watermark delivers a violation in a slot the watermark has
 * not reached. The early evaluation cannot fire it yet (the closing evaluations of the slots
 * before would not see it and would resolve), but it must fire as soon as the watermark
 * enters that slot, not 10 s later when the slot closes: the series stays marked changed. */
static void test_shard_early_firing_ahead_of_watermark(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(policy_rule);
    tl_tl_every(t, T0, T0 + 2 * MIN, SEC, "kind=llm_call service=bot", 0, NULL);
    tl_tl_event(t, T0 + MIN + 10 * SEC + 300, "kind=llm_call service=bot flags=policy_violation trace=ahead1");
    tl_tl_run(t, T0, T0 + MIN, SEC);
    /* folded up to +1m10.5s (the violation included), watermark still in the slot before */
    tl_tl_eval_ahead(t, T0 + MIN + 10 * SEC + 500, T0 + MIN + 9 * SEC + 900);
    assert_null(tl_tl_find(t, "Policy", TL_ALERT_FIRING));
    /* the watermark enters the violation's slot; no new event for this series */
    tl_tl_eval(t, T0 + MIN + 10 * SEC + 100);
    const tl_tl_alert *f = tl_tl_find(t, "Policy", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_int_equal(f->emitted_wm, T0 + MIN + 10 * SEC + 100);
    assert_int_equal(f->ts, T0 + MIN + 20 * SEC);
    tl_tl_run(t, T0 + MIN + 11 * SEC, T0 + 2 * MIN, SEC);
    assert_int_equal(tl_tl_count(t, "Policy", TL_ALERT_FIRING), 1);
    assert_int_equal(tl_tl_count(t, "Policy", TL_ALERT_RESOLVED), 0);
    tl_tl_free(t);
}

static const char latency_rule[] =
    "rules:\n"
    "  - name: P95\n"
    "    filter: kind == \"request\"\n"
    "    group_by: [service]\n"
    "    value: p95(latency_ms)\n"
    "    window: 5m\n"
    "    threshold: \"> 15s\"\n"
    "    min_events: 20\n"
    "    for: 15m\n"
    "    severity: critical\n"
    "    owner: platform\n"
    "    runbook: r.md\n"
    "    summary: \"{{service}} p95 {{value}}\"\n";

/* "p95 latency > 15 s for 15 minutes", with two services: only the slow one fires, the value
 * is within the sketch's 1% of the true p95, and exemplars are the slowest traces. */
static void test_shard_p95_latency_per_service(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(latency_rule);
    tl_tl_every(t, T0, T0 + 40 * MIN, SEC, "kind=request service=fast latency_ms=800", 0.04,
                "latency_ms=14000");
    /* slow: 90% at 9 s, 10% at 20 s -> p95 = 20 s */
    tl_tl_every(t, T0, T0 + 40 * MIN, SEC, "kind=request service=slow latency_ms=9000 trace=t-ok", 0.10,
                "latency_ms=20000 trace=t-slow");
    tl_tl_run(t, T0, T0 + 40 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "P95", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_string_equal(f->labels, "service=slow");
    assert_true(fabs(f->value - 20000) <= 20000 * 0.011);
    assert_true(f->ts >= T0 + 15 * MIN && f->ts <= T0 + 16 * MIN);
    assert_string_equal(f->exemplar0, "t-slow");
    assert_int_equal(tl_tl_count(t, "P95", TL_ALERT_FIRING), 1);
    tl_tl_free(t);
}

/* Events later than the allowed lateness (30 s) are counted and not folded; events within it
 * still count. */
static void test_shard_late_events_are_counted(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(policy_rule);
    tl_tl_every(t, T0, T0 + 5 * MIN, SEC, "kind=llm_call service=bot", 0, NULL);
    tl_tl_run(t, T0, T0 + 5 * MIN, SEC);
    assert_int_equal(tl_tl_late(t), 0);
    tl_tl_event(t, T0 + 5 * MIN - 10 * SEC, "kind=llm_call service=late-ok");
    tl_tl_event(t, T0 + 5 * MIN - 2 * MIN, "kind=llm_call service=too-late flags=policy_violation");
    tl_tl_eval(t, T0 + 5 * MIN + SEC);
    assert_int_equal(tl_tl_late(t), 1);
    assert_null(tl_tl_find(t, "Policy", TL_ALERT_FIRING));
    tl_tl_free(t);
}

/* Arithmetic between aggregates: cost per successful request. */
static void test_shard_cost_per_success(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: CostPerSuccess\n"
                         "    group_by: [service]\n"
                         "    value: sum(cost_usd) / count(kind == \"request\" and status == \"ok\")\n"
                         "    window: 10m\n"
                         "    threshold: \"> 0.05\"\n"
                         "    min_events: 10\n"
                         "    severity: warning\n"
                         "    owner: finops\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}} {{value}} per successful task\"\n");
    /* per second: one llm_call costing $0.02 and one request; half the requests fail ->
     * $0.04 per success (no alert); from 10m on the llm cost doubles -> $0.08 (alert) */
    tl_tl_every(t, T0, T0 + 10 * MIN, SEC, "kind=llm_call service=s cost_usd=0.02", 0, NULL);
    tl_tl_every(t, T0 + 10 * MIN, T0 + 25 * MIN, SEC, "kind=llm_call service=s cost_usd=0.04", 0, NULL);
    tl_tl_every(t, T0 + 500, T0 + 25 * MIN, SEC, "kind=request service=s status=ok", 0.5, "status=error");
    tl_tl_run(t, T0, T0 + 25 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "CostPerSuccess", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_true(f->ts > T0 + 10 * MIN + 2 * MIN);
    assert_true(f->value > 0.05 && f->value < 0.09);
    assert_true(strstr(f->summary, "$0.") != NULL);
    tl_tl_free(t);
}

/* The fingerprint depends on the rule and the label set only. */
static void test_shard_fingerprints_distinct_per_series(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(policy_rule);
    tl_tl_event(t, T0 + SEC, "kind=llm_call service=a flags=policy_violation");
    tl_tl_event(t, T0 + SEC, "kind=llm_call service=b flags=policy_violation");
    tl_tl_run(t, T0, T0 + 5 * SEC, SEC);
    assert_int_equal(tl_tl_count(t, "Policy", TL_ALERT_FIRING), 2);
    const tl_tl_alert *a = tl_tl_alert_at(t, 0), *b = tl_tl_alert_at(t, 1);
    assert_string_not_equal(a->fingerprint, b->fingerprint);
    assert_int_equal(strlen(a->fingerprint), 16);
    assert_int_equal(strlen(a->transition_id), 32);
    /* the same rule and labels in a fresh engine give the same fingerprint */
    tl_tl *t2 = tl_tl_new(policy_rule);
    tl_tl_event(t2, T0 + 7 * SEC, "kind=llm_call service=a flags=policy_violation");
    tl_tl_run(t2, T0, T0 + 10 * SEC, SEC);
    const tl_tl_alert *a2 = tl_tl_alert_at(t2, 0);
    assert_non_null(a2);
    assert_string_equal(a2->fingerprint, strcmp(a->labels, "service=a") == 0 ? a->fingerprint : b->fingerprint);
    tl_tl_free(t2);
    tl_tl_free(t);
}


/* A rule template for the lifecycle options; %s is extra YAML lines. */
#define RATIO_RULE(extra)                                                                      \
    "rules:\n"                                                                                 \
    "  - name: R\n"                                                                            \
    "    filter: kind == \"tool_call\"\n"                                                     \
    "    group_by: [service]\n"                                                                \
    "    value: ratio(status != \"ok\")\n"                                                    \
    "    window: 1m\n"                                                                         \
    "    slot: 10s\n"                                                                          \
    "    threshold: \"> 10%\"\n"                                                              \
    "    min_events: 5\n"                                                                      \
    "    severity: warning\n"                                                                  \
    "    owner: o\n"                                                                           \
    "    runbook: r.md\n"                                                                      \
    "    summary: \"{{service}} {{value}}\"\n" extra

/* A value hovering around the threshold flaps without hysteresis and does not with a
 * recovery threshold (`resolve`). */
static void test_shard_hysteresis_stops_flapping(void **state)
{
    (void)state;
    /* alternate minutes at 14% and 8% errors: above and below 10% */
    const char *bad = "kind=tool_call service=s status=ok";
    for (int hyst = 0; hyst < 2; hyst++) {
        tl_tl *t = tl_tl_new(hyst ? RATIO_RULE("    resolve: \"< 5%\"\n") : RATIO_RULE(""));
        for (int m = 0; m < 20; m++)
            tl_tl_every(t, T0 + m * MIN, T0 + (m + 1) * MIN, SEC / 2, bad, m % 2 ? 0.08 : 0.14, "status=error");
        tl_tl_every(t, T0 + 20 * MIN, T0 + 25 * MIN, SEC / 2, bad, 0.0, NULL);
        tl_tl_run(t, T0, T0 + 25 * MIN, 10 * SEC);
        size_t fired = tl_tl_count(t, "R", TL_ALERT_FIRING), resolved = tl_tl_count(t, "R", TL_ALERT_RESOLVED);
        if (hyst) {
            /* fires once, stays firing while the value hovers, resolves once it is under 5% */
            assert_int_equal(fired, 1);
            assert_int_equal(resolved, 1);
            assert_true(tl_tl_find(t, "R", TL_ALERT_RESOLVED)->ts > T0 + 20 * MIN);
        } else {
            assert_true(fired >= 5);
            assert_true(resolved >= 5);
        }
        tl_tl_free(t);
    }
}

/* keep_firing_for holds a firing alert open through a short dip. */
static void test_shard_keep_firing_for(void **state)
{
    (void)state;
    for (int keep = 0; keep < 2; keep++) {
        tl_tl *t = tl_tl_new(keep ? RATIO_RULE("    keep_firing_for: 2m\n") : RATIO_RULE(""));
        const char *ok = "kind=tool_call service=s status=ok";
        tl_tl_every(t, T0, T0 + 5 * MIN, SEC, ok, 0.5, "status=error");
        tl_tl_every(t, T0 + 5 * MIN, T0 + 7 * MIN, SEC, ok, 0.0, NULL);       /* a 2m dip */
        tl_tl_every(t, T0 + 7 * MIN, T0 + 10 * MIN, SEC, ok, 0.5, "status=error");
        tl_tl_every(t, T0 + 10 * MIN, T0 + 20 * MIN, SEC, ok, 0.0, NULL);
        tl_tl_run(t, T0, T0 + 20 * MIN, 10 * SEC);
        if (keep) {
            assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 1);
            assert_int_equal(tl_tl_count(t, "R", TL_ALERT_RESOLVED), 1);
            /* resolves 2m after the condition stopped holding for good (~11m) */
            const tl_tl_alert *r = tl_tl_find(t, "R", TL_ALERT_RESOLVED);
            assert_true(r->ts >= T0 + 12 * MIN && r->ts <= T0 + 13 * MIN + 10 * SEC);
        } else {
            assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 2);
        }
        tl_tl_free(t);
    }
}

/* confidence: a high ratio over few events is not enough evidence; over many it is. */
static void test_shard_confidence_guard(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(RATIO_RULE("    confidence: 95%\n"));
    /* both services fail 1 call in 6 (17% > 10%). few: 6 calls per 1m window, Wilson lower
     * bound at 95% ~3%: no alert. many: 600 calls per window, lower bound ~14%: alert. */
    tl_tl_every(t, T0, T0 + 10 * MIN, 10 * SEC, "kind=tool_call service=few status=ok", 1.0 / 6, "status=error");
    tl_tl_every(t, T0, T0 + 10 * MIN, 100, "kind=tool_call service=many status=ok", 1.0 / 6, "status=error");
    tl_tl_run(t, T0, T0 + 10 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "R", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_string_equal(f->labels, "service=many");
    assert_true(fabs(f->value - 1.0 / 6) < 0.01); /* the value reported is the ratio itself */
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 1);
    tl_tl_free(t);
    /* without the guard both fire */
    t = tl_tl_new(RATIO_RULE(""));
    tl_tl_every(t, T0, T0 + 10 * MIN, 10 * SEC, "kind=tool_call service=few status=ok", 1.0 / 6, "status=error");
    tl_tl_every(t, T0, T0 + 10 * MIN, 100, "kind=tool_call service=many status=ok", 1.0 / 6, "status=error");
    tl_tl_run(t, T0, T0 + 10 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 2);
    tl_tl_free(t);
}

/* max_instances caps active instances; the refused ones are counted, not dropped silently. */
static void test_shard_max_instances(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(RATIO_RULE("    max_instances: 3\n"));
    char spec[128];
    for (int i = 0; i < 8; i++) {
        snprintf(spec, sizeof spec, "kind=tool_call service=s%d status=error", i);
        tl_tl_every(t, T0 + i * 100, T0 + 3 * MIN, SEC, spec, 0, NULL);
    }
    tl_tl_run(t, T0, T0 + 3 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 3);
    assert_int_equal(tl_tl_capped(t), 5);
    tl_tl_free(t);
}


/* The cap counts active instances across series. Services take turns failing, so instances
 * resolve and others are refused or admitted while the cap is full. The same timeline evaluated
 * at every 10 s slot boundary and once a minute (each pass then closes six boundaries) must give
 * the same transitions: a pass closes boundary j for every series before any series' boundary
 * j + 1, so what the cap admits does not depend on how many boundaries one pass covers. */
static void run_capped_turns(tl_tl *t, int64_t step)
{
    char spec[128];
    for (int i = 0; i < 8; i++) {
        snprintf(spec, sizeof spec, "kind=tool_call service=s%d status=ok", i);
        int64_t from = T0 + (i % 4) * 40 * SEC + (i / 4) * 5 * SEC, to = from + 70 * SEC + i * 10 * SEC;
        tl_tl_every(t, T0, from, SEC, spec, 0, NULL);
        tl_tl_every(t, from, to, SEC, spec, 1.0, "status=error");
        tl_tl_every(t, to, T0 + 8 * MIN, SEC, spec, 0, NULL);
    }
    tl_tl_run(t, T0, T0 + 8 * MIN, step);
}

static void test_shard_cap_does_not_depend_on_batching(void **state)
{
    (void)state;
    tl_tl *fine = tl_tl_new(RATIO_RULE("    max_instances: 2\n"));
    tl_tl *coarse = tl_tl_new(RATIO_RULE("    max_instances: 2\n"));
    run_capped_turns(fine, 10 * SEC);
    run_capped_turns(coarse, MIN);
    assert_true(tl_tl_capped(fine) > 0);          /* the cap did refuse some */
    assert_true(tl_tl_count(fine, "R", TL_ALERT_FIRING) > 2); /* and admitted others later */
    assert_int_equal(tl_tl_nalerts(fine), tl_tl_nalerts(coarse));
    for (size_t i = 0; i < tl_tl_nalerts(fine); i++) {
        const tl_tl_alert *a = tl_tl_alert_at(fine, i);
        int found = 0;
        for (size_t j = 0; j < tl_tl_nalerts(coarse) && !found; j++) {
            const tl_tl_alert *b = tl_tl_alert_at(coarse, j);
            found = a->state == b->state && a->starts_at == b->starts_at && a->ts == b->ts &&
                    strcmp(a->labels, b->labels) == 0 && strcmp(a->transition_id, b->transition_id) == 0;
        }
        if (!found)
            fail_msg("transition %zu (%s at %lld) of the fine run is missing from the coarse one", i, a->labels,
                     (long long)(a->ts - T0));
    }
    assert_int_equal(tl_tl_capped(fine), tl_tl_capped(coarse));
    tl_tl_free(fine);
    tl_tl_free(coarse);
}

/* "average cost per request doubled compared with the 7-day baseline": a week at $0.010 per
 * call, then $0.025 fires (2.5x the hourly baseline) and $0.015 (1.5x) does not. The baseline
 * comes from hourly roll-ups, so the check costs 168 buckets per series, not a week of slots. */
static void test_shard_baseline_7d(void **state)
{
    (void)state;
    const char *rule = "rules:\n"
                       "  - name: CostDoubled\n"
                       "    filter: kind == \"llm_call\"\n"
                       "    group_by: [service]\n"
                       "    value: avg(cost_usd) / baseline(avg(cost_usd), 7d)\n"
                       "    window: 10m\n"
                       "    slot: 1m\n"
                       "    threshold: \"> 2\"\n"
                       "    min_events: 5\n"
                       "    for: 10m\n"
                       "    severity: warning\n"
                       "    owner: finops\n"
                       "    runbook: r.md\n"
                       "    summary: \"{{service}} cost {{value}}x its 7-day baseline\"\n";
    tl_tl *t = tl_tl_new(rule);
    const int64_t day = 24 * 60 * MIN, week = 7 * day;
    tl_tl_every(t, T0, T0 + week, MIN, "kind=llm_call service=up cost_usd=0.010", 0, NULL);
    tl_tl_every(t, T0, T0 + week, MIN, "kind=llm_call service=flat cost_usd=0.010", 0, NULL);
    tl_tl_every(t, T0 + week, T0 + week + 2 * 60 * MIN, MIN, "kind=llm_call service=up cost_usd=0.025", 0, NULL);
    tl_tl_every(t, T0 + week, T0 + week + 2 * 60 * MIN, MIN, "kind=llm_call service=flat cost_usd=0.015", 0, NULL);
    tl_tl_run(t, T0, T0 + week + 2 * 60 * MIN, MIN); /* steps within the 2m lead, as the engine ensures */
    assert_int_equal(tl_tl_count(t, "CostDoubled", TL_ALERT_FIRING), 1);
    const tl_tl_alert *f = tl_tl_find(t, "CostDoubled", TL_ALERT_FIRING);
    assert_string_equal(f->labels, "service=up");
    assert_true(fabs(f->value - 2.5) < 0.01);
    /* the 10m average passes 2x the baseline once 7 of its 10 minutes are new calls (+7m):
     * pending from then, firing 10m later */
    assert_int_equal(f->ts, T0 + week + 17 * MIN);
    tl_tl_free(t);
}

/* Spike against the previous window, and the same window a day earlier. */
static void test_shard_previous_and_offset(void **state)
{
    (void)state;
    const char *rules = "rules:\n"
                        "  - name: Spike\n"
                        "    group_by: [service]\n"
                        "    value: count() / previous(count())\n"
                        "    window: 5m\n"
                        "    slot: 1m\n"
                        "    threshold: \"> 3\"\n"
                        "    min_events: 10\n"
                        "    severity: warning\n"
                        "    owner: o\n"
                        "    runbook: r.md\n"
                        "    summary: s\n"
                        "  - name: DayOverDay\n"
                        "    group_by: [service]\n"
                        "    value: count() / offset(count(), 1d)\n"
                        "    window: 1h\n"
                        "    slot: 5m\n"
                        "    threshold: \"> 1.8\"\n"
                        "    min_events: 10\n"
                        "    severity: info\n"
                        "    owner: o\n"
                        "    runbook: r.md\n"
                        "    summary: s\n";
    tl_tl *t = tl_tl_new(rules);
    const int64_t day = 24 * 60 * MIN;
    /* day 1: 1 event/min; day 2: the same until 12:00, then 2/min; at 18:00 a burst of 10/min */
    tl_tl_every(t, T0, T0 + day + 12 * 60 * MIN, MIN, "service=s", 0, NULL);
    tl_tl_every(t, T0 + day + 12 * 60 * MIN, T0 + day + 18 * 60 * MIN, 30 * SEC, "service=s", 0, NULL);
    tl_tl_every(t, T0 + day + 18 * 60 * MIN, T0 + day + 19 * 60 * MIN, 6 * SEC, "service=s", 0, NULL);
    tl_tl_run(t, T0, T0 + day + 19 * 60 * MIN, MIN);
    /* the 2x step day over day fires about an hour after 12:00 (the 1h window fills) */
    const tl_tl_alert *d = tl_tl_find(t, "DayOverDay", TL_ALERT_FIRING);
    assert_non_null(d);
    assert_true(d->ts >= T0 + day + 12 * 60 * MIN + 40 * MIN && d->ts <= T0 + day + 13 * 60 * MIN + 5 * MIN);
    assert_true(d->value > 1.8 && d->value <= 2.01);
    /* the 5x burst against the previous 5 minutes fires within minutes of 18:00, once */
    const tl_tl_alert *sp = tl_tl_find(t, "Spike", TL_ALERT_FIRING);
    assert_non_null(sp);
    assert_true(sp->ts >= T0 + day + 18 * 60 * MIN && sp->ts <= T0 + day + 18 * 60 * MIN + 5 * MIN);
    assert_int_equal(tl_tl_count(t, "Spike", TL_ALERT_FIRING), 1);
    tl_tl_free(t);
}


/* "no events from service X for 5 minutes": count() < 1 with no_data: alert fires once the
 * window has drained and the condition has held for `for`; it resolves when events return. */
static void test_shard_absence_alert(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: NoTraffic\n"
                         "    group_by: [service]\n"
                         "    value: count()\n"
                         "    window: 5m\n"
                         "    slot: 10s\n"
                         "    threshold: \"< 1\"\n"
                         "    for: 5m\n"
                         "    no_data: alert\n"
                         "    severity: critical\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"no events from {{service}} for 10m\"\n");
    tl_tl_every(t, T0, T0 + 10 * MIN, SEC, "service=quiet", 0, NULL);
    tl_tl_every(t, T0 + 30 * MIN, T0 + 40 * MIN, SEC, "service=quiet", 0, NULL);
    tl_tl_every(t, T0, T0 + 40 * MIN, SEC, "service=busy", 0, NULL);
    tl_tl_run(t, T0, T0 + 40 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "NoTraffic", TL_ALERT_FIRING), *r = tl_tl_find(t, "NoTraffic", TL_ALERT_RESOLVED);
    assert_non_null(f);
    assert_string_equal(f->labels, "service=quiet");
    assert_true(f->ts >= T0 + 20 * MIN && f->ts <= T0 + 20 * MIN + 20 * SEC); /* drained at 15m, +5m */
    assert_non_null(r);
    assert_true(r->ts >= T0 + 30 * MIN && r->ts <= T0 + 30 * MIN + 20 * SEC);
    assert_int_equal(tl_tl_count(t, "NoTraffic", TL_ALERT_FIRING), 1);
    tl_tl_free(t);
}

/* When data stops under a firing alert: resolve (default) resolves, keep stays firing and
 * keeps re-notifying, ignore stays firing silently. */
static void test_shard_no_data_policies(void **state)
{
    (void)state;
    static const char *const policy[] = {"resolve", "keep", "ignore"};
    for (int i = 0; i < 3; i++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml, "%s    no_data: %s\n    renotify_interval: 5m\n", RATIO_RULE(""), policy[i]);
        tl_tl *t = tl_tl_new(yaml);
        tl_tl_every(t, T0, T0 + 5 * MIN, SEC, "kind=tool_call service=s status=error", 0, NULL);
        tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
        size_t fired = tl_tl_count(t, "R", TL_ALERT_FIRING), resolved = tl_tl_count(t, "R", TL_ALERT_RESOLVED);
        /* firing at 0:10 and re-notified at 5:10 while data still covers the 1m window */
        if (i == 0) {
            assert_int_equal(fired, 2);
            assert_int_equal(resolved, 1);
        } else if (i == 1) {
            assert_int_equal(resolved, 0);
            assert_int_equal(fired, 6); /* and every 5m through the gap: 10:10 ... 25:10 */
        } else {
            assert_int_equal(resolved, 0);
            assert_int_equal(fired, 2); /* nothing more during the gap */
        }
        tl_tl_free(t);
    }
}


/* Warning and critical thresholds in one rule: two alerts (label severity), and the critical
 * one silences the warning while it fires on the same series. */
static void test_shard_severity_levels(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: Errors\n"
                         "    filter: kind == \"tool_call\"\n"
                         "    group_by: [service]\n"
                         "    value: ratio(status != \"ok\")\n"
                         "    window: 1m\n"
                         "    slot: 10s\n"
                         "    threshold: {warning: \"> 5%\", critical: \"> 10%\"}\n"
                         "    min_events: 10\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}} errors {{value}} ({{severity}})\"\n");
    const char *ok = "kind=tool_call service=s status=ok";
    tl_tl_every(t, T0, T0 + 5 * MIN, SEC / 4, ok, 0.08, "status=error");             /* warning */
    tl_tl_every(t, T0 + 5 * MIN, T0 + 10 * MIN, SEC / 4, ok, 0.20, "status=error");  /* critical */
    tl_tl_every(t, T0 + 10 * MIN, T0 + 15 * MIN, SEC / 4, ok, 0.08, "status=error"); /* warning */
    tl_tl_every(t, T0 + 15 * MIN, T0 + 20 * MIN, SEC / 4, ok, 0.0, NULL);
    tl_tl_run(t, T0, T0 + 20 * MIN, 10 * SEC);
    /* the sequence of transitions, by label set */
    const char *want[][2] = {
        {"service=s,severity=warning", "firing"},   {"service=s,severity=critical", "firing"},
        {"service=s,severity=warning", "resolved"}, {"service=s,severity=critical", "resolved"},
        {"service=s,severity=warning", "firing"},   {"service=s,severity=warning", "resolved"},
    };
    assert_int_equal(tl_tl_nalerts(t), 6);
    for (size_t i = 0; i < 6; i++) {
        const tl_tl_alert *a = tl_tl_alert_at(t, i);
        assert_string_equal(a->labels, want[i][0]);
        assert_string_equal(a->state == TL_ALERT_FIRING ? "firing" : "resolved", want[i][1]);
    }
    assert_string_not_equal(tl_tl_alert_at(t, 0)->fingerprint, tl_tl_alert_at(t, 1)->fingerprint);
    assert_true(strstr(tl_tl_alert_at(t, 1)->summary, "(critical)") != NULL);
    /* escalation at ~5m, de-escalation at ~10m */
    assert_true(tl_tl_alert_at(t, 1)->ts > T0 + 5 * MIN && tl_tl_alert_at(t, 1)->ts < T0 + 6 * MIN);
    assert_int_equal(tl_tl_alert_at(t, 2)->ts, tl_tl_alert_at(t, 1)->ts);
    tl_tl_free(t);
}


/* Per-trace values: a trace closes on its root request and reports how many model and tool
 * calls it made; "tool calls per trace" is then an ordinary average. */
static void test_shard_per_trace_values(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: ToolCallsPerTrace\n"
                         "    filter: kind == \"trace\"\n"
                         "    group_by: [service]\n"
                         "    value: avg(trace_tool_calls)\n"
                         "    window: 5m\n"
                         "    threshold: \"> 4\"\n"
                         "    min_events: 5\n"
                         "    severity: warning\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}} makes {{value}} tool calls per trace\"\n");
    char spec[256];
    /* one trace every 10 s: 3 tool calls and 2 model calls, then the root request; from 5m on,
     * 6 tool calls (an agent looping) */
    for (int i = 0; i < 60; i++) {
        int64_t base = T0 + (int64_t)i * 10 * SEC;
        int tools = i < 30 ? 3 : 6;
        for (int k = 0; k < tools; k++) {
            snprintf(spec, sizeof spec, "kind=tool_call service=bot tool=search trace=t%d parent_span_id=root", i);
            tl_tl_event(t, base + 100 * (k + 1), spec);
        }
        for (int k = 0; k < 2; k++) {
            snprintf(spec, sizeof spec, "kind=llm_call service=bot trace=t%d parent_span_id=root input_tokens=100", i);
            tl_tl_event(t, base + 50 + 100 * k, spec);
        }
        snprintf(spec, sizeof spec, "kind=request service=bot trace=t%d status=ok", i);
        tl_tl_event(t, base + 2 * SEC, spec);
    }
    tl_tl_run(t, T0, T0 + 10 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "ToolCallsPerTrace", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_string_equal(f->labels, "service=bot");
    /* the 5m average passes 4 once a third of its traces make 6 calls: ~1m40s after 5m */
    assert_true(f->ts > T0 + 6 * MIN && f->ts < T0 + 7 * MIN + 30 * SEC);
    tl_tl_free(t);
}

/* "prompt injection detected, then a high-risk tool call in the same trace within 60 s". */
static void test_shard_sequence_rule(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: InjectionThenRiskyTool\n"
                         "    sequence:\n"
                         "      - kind == \"guardrail\" and flags contains \"injection_detected\"\n"
                         "      - kind == \"tool_call\" and attributes.risk == \"high\"\n"
                         "    within: 60s\n"
                         "    group_by: [service]\n"
                         "    severity: critical\n"
                         "    owner: security\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}}: injection then a high-risk tool call\"\n");
    /* a: injection then a risky call 20 s later in the same trace: fires.
     * b: the risky call in another trace. c: the risky call 2 minutes later. d: risky first. */
    tl_tl_event(t, T0 + 10 * SEC, "kind=guardrail service=a trace=ta flags=injection_detected");
    tl_tl_event(t, T0 + 30 * SEC, "kind=tool_call service=a trace=ta tool=refund attr.risk=high");
    tl_tl_event(t, T0 + 10 * SEC, "kind=guardrail service=b trace=tb1 flags=injection_detected");
    tl_tl_event(t, T0 + 30 * SEC, "kind=tool_call service=b trace=tb2 tool=refund attr.risk=high");
    tl_tl_event(t, T0 + 10 * SEC, "kind=guardrail service=c trace=tc flags=injection_detected");
    tl_tl_event(t, T0 + 130 * SEC, "kind=tool_call service=c trace=tc tool=refund attr.risk=high");
    tl_tl_event(t, T0 + 10 * SEC, "kind=tool_call service=d trace=td tool=refund attr.risk=high");
    tl_tl_event(t, T0 + 30 * SEC, "kind=guardrail service=d trace=td flags=injection_detected");
    tl_tl_run(t, T0, T0 + 5 * MIN, SEC);
    assert_int_equal(tl_tl_count(t, "InjectionThenRiskyTool", TL_ALERT_FIRING), 1);
    const tl_tl_alert *f = tl_tl_find(t, "InjectionThenRiskyTool", TL_ALERT_FIRING);
    assert_string_equal(f->labels, "service=a");
    assert_string_equal(f->exemplar0, "ta");
    /* early: emitted right after the risky call, stamped with the end of its slot */
    assert_true(f->emitted_wm <= T0 + 31 * SEC);
    tl_tl_free(t);
}

/* Tools used together that no allowed combination permits. */
static void test_shard_tool_combinations(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: UnexpectedTools\n"
                         "    tool_combinations:\n"
                         "      filter: service == \"bot\"\n"
                         "      allowed: [[get_order_status, refund_order], [search_kb, create_ticket, get_order_status]]\n"
                         "    group_by: [service, attributes.tools]\n"
                         "    severity: warning\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}} used {{attributes.tools}} together\"\n");
    static const char *const traces[][3] = {
        {"ok1", "get_order_status", "refund_order"},
        {"ok2", "search_kb", "create_ticket"},
        {"bad", "refund_order", "send_email"},
    };
    char spec[256];
    for (int i = 0; i < 3; i++) {
        for (int k = 1; k < 3; k++) {
            snprintf(spec, sizeof spec, "kind=tool_call service=bot tool=%s trace=%s parent_span_id=r", traces[i][k],
                     traces[i][0]);
            tl_tl_event(t, T0 + i * SEC + k * 100, spec);
        }
        snprintf(spec, sizeof spec, "kind=request service=bot trace=%s", traces[i][0]);
        tl_tl_event(t, T0 + i * SEC + 500, spec);
    }
    /* another service is not covered by the filter */
    tl_tl_event(t, T0 + 5 * SEC, "kind=tool_call service=other tool=refund_order trace=o parent_span_id=r");
    tl_tl_event(t, T0 + 5 * SEC, "kind=tool_call service=other tool=send_email trace=o parent_span_id=r");
    tl_tl_event(t, T0 + 6 * SEC, "kind=request service=other trace=o");
    tl_tl_run(t, T0, T0 + 2 * MIN, SEC);
    assert_int_equal(tl_tl_count(t, "UnexpectedTools", TL_ALERT_FIRING), 1);
    const tl_tl_alert *f = tl_tl_find(t, "UnexpectedTools", TL_ALERT_FIRING);
    assert_string_equal(f->labels, "service=bot,attributes.tools=refund_order,send_email");
    assert_true(strstr(f->summary, "used refund_order,send_email together") != NULL);
    tl_tl_free(t);
}


/* Event rules: one notification per matching event, deduplicated per series within `dedup`,
 * and no resolved notifications. */
static void test_shard_event_rule(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: Violation\n"
                         "    event: flags contains \"policy_violation\"\n"
                         "    group_by: [service, trace_id]\n"
                         "    dedup: 10m\n"
                         "    severity: critical\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"violation in trace {{trace_id}}\"\n");
    tl_tl_event(t, T0 + 10 * SEC, "service=a trace=t1 flags=policy_violation");
    tl_tl_event(t, T0 + 20 * SEC, "service=a trace=t1 flags=policy_violation"); /* duplicate within 10m */
    tl_tl_event(t, T0 + 30 * SEC, "service=a trace=t2 flags=policy_violation"); /* another key */
    tl_tl_event(t, T0 + 15 * MIN, "service=a trace=t1 flags=policy_violation"); /* after the period */
    tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "Violation", TL_ALERT_FIRING), 3);
    assert_int_equal(tl_tl_count(t, "Violation", TL_ALERT_RESOLVED), 0);
    assert_true(strstr(tl_tl_alert_at(t, 0)->summary, "violation in trace t1") != NULL);
    tl_tl_free(t);
}


/* "users affected": distinct users among failed requests, exact while small and within the
 * sketch's error when large. */
static void test_shard_distinct_users(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: UsersAffected\n"
                         "    filter: status == \"error\"\n"
                         "    group_by: [service]\n"
                         "    value: distinct(attributes.user_id)\n"
                         "    window: 10m\n"
                         "    threshold: \"> 50\"\n"
                         "    severity: critical\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{value}} users affected on {{service}}\"\n");
    char spec[128];
    /* 40 users fail repeatedly (200 errors): no alert; then 30 more users fail: 70 > 50 */
    for (int i = 0; i < 200; i++) {
        snprintf(spec, sizeof spec, "service=s status=error attr.user_id=u%d", i % 40);
        tl_tl_event(t, T0 + i * SEC, spec);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(spec, sizeof spec, "service=s status=error attr.user_id=v%d", i);
        tl_tl_event(t, T0 + 5 * MIN + i * SEC, spec);
    }
    tl_tl_run(t, T0, T0 + 8 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "UsersAffected", TL_ALERT_FIRING);
    assert_non_null(f);
    assert_true(f->ts > T0 + 5 * MIN && f->ts <= T0 + 5 * MIN + 20 * SEC); /* the 11th new user */
    assert_true(f->value == 51); /* exact at this size; fired early on the 51st user */
    tl_tl_free(t);
    /* large: 20000 distinct users in one window, within 4 standard errors (13%) */
    t = tl_tl_new("rules:\n"
                  "  - name: Many\n"
                  "    value: distinct(attributes.user_id)\n"
                  "    window: 10m\n"
                  "    threshold: \"> 1\"\n"
                  "    for: 5m\n"
                  "    severity: info\n"
                  "    owner: o\n"
                  "    runbook: r.md\n"
                  "    summary: s\n");
    for (int i = 0; i < 20000; i++) {
        snprintf(spec, sizeof spec, "service=s attr.user_id=user-%d", i);
        tl_tl_event(t, T0 + (int64_t)i * 20, spec);
    }
    tl_tl_run(t, T0, T0 + 8 * MIN, 10 * SEC);
    f = tl_tl_find(t, "Many", TL_ALERT_FIRING);
    assert_non_null(f);
    /* fired at ~5m with the users of the first 5 minutes: 15000 */
    double want = (double)((f->ts - T0) / 20 < 20000 ? (f->ts - T0) / 20 : 20000);
    assert_true(fabs(f->value - want) <= want * 0.13);
    tl_tl_free(t);
}


/* "invalid output rate > 5% in the first 30 minutes after a prompt release": each version is
 * watched only during its first 30m, and the alert names the version. */
static void test_shard_release_aware(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: InvalidOutputAfterRelease\n"
                         "    filter: kind == \"llm_call\"\n"
                         "    group_by: [service, prompt_version]\n"
                         "    release: prompt_version\n"
                         "    during: 30m\n"
                         "    value: ratio(flags contains \"invalid_output\")\n"
                         "    window: 10m\n"
                         "    threshold: \"> 5%\"\n"
                         "    min_events: 50\n"
                         "    for: 5m\n"
                         "    severity: warning\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{prompt_version}}: invalid output {{value}}\"\n");
    const char *v1 = "kind=llm_call service=s prompt_version=v1", *v2 = "kind=llm_call service=s prompt_version=v2";
    /* v1 is an old version at 8% from the start... only watched for its first 30m: it fires
     * then resolves when its window closes; v2 released at 1h with 8% fires; v3 at 2% never */
    tl_tl_every(t, T0, T0 + 60 * MIN, SEC, v1, 0.08, "flags=invalid_output");
    tl_tl_every(t, T0 + 60 * MIN, T0 + 120 * MIN, SEC, v2, 0.08, "flags=invalid_output");
    tl_tl_every(t, T0 + 120 * MIN, T0 + 150 * MIN, SEC, "kind=llm_call service=s prompt_version=v3", 0.02,
                "flags=invalid_output");
    tl_tl_run(t, T0, T0 + 150 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "InvalidOutputAfterRelease", TL_ALERT_FIRING), 2);
    const tl_tl_alert *a = tl_tl_alert_at(t, 0);
    assert_string_equal(a->labels, "service=s,prompt_version=v1");
    int v2_fired = 0, v2_resolved = 0, v1_resolved = 0;
    for (size_t i = 0; i < tl_tl_nalerts(t); i++) {
        const tl_tl_alert *x = tl_tl_alert_at(t, i);
        if (strcmp(x->labels, "service=s,prompt_version=v2") == 0) {
            if (x->state == TL_ALERT_FIRING) {
                v2_fired = 1;
                assert_true(x->ts > T0 + 60 * MIN && x->ts < T0 + 70 * MIN);
                assert_true(strncmp(x->summary, "v2: invalid output ", 19) == 0);
            } else {
                v2_resolved = 1;
                /* the release window closed, not the problem */
                assert_true(x->ts >= T0 + 90 * MIN && x->ts <= T0 + 91 * MIN);
            }
        }
        if (strcmp(x->labels, "service=s,prompt_version=v1") == 0 && x->state == TL_ALERT_RESOLVED) {
            v1_resolved = 1;
            assert_true(x->ts >= T0 + 30 * MIN && x->ts <= T0 + 31 * MIN);
        }
    }
    assert_true(v2_fired && v2_resolved && v1_resolved);
    tl_tl_free(t);
}


/* Learned combinations: tool pairs not seen together during the last day (after a day of
 * warm-up) are unexpected. */
static void test_shard_learned_tool_combinations(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: NewToolPair\n"
                         "    tool_combinations:\n"
                         "      learn: 1d\n"
                         "    group_by: [service, attributes.tools]\n"
                         "    severity: warning\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{service}}: new combination {{attributes.tools}}\"\n");
    char spec[256];
    const int64_t day = 24 * 60 * MIN;
    int n = 0;
    /* a trace using search + create_ticket every 10 minutes for 2 days */
    for (int64_t ts = T0; ts < T0 + 2 * day; ts += 10 * MIN, n++) {
        snprintf(spec, sizeof spec, "kind=tool_call service=s tool=search trace=x%d parent_span_id=r", n);
        tl_tl_event(t, ts, spec);
        snprintf(spec, sizeof spec, "kind=tool_call service=s tool=create_ticket trace=x%d parent_span_id=r", n);
        tl_tl_event(t, ts + 100, spec);
        snprintf(spec, sizeof spec, "kind=request service=s trace=x%d", n);
        tl_tl_event(t, ts + 200, spec);
    }
    /* then search + refund, never seen together */
    tl_tl_event(t, T0 + 2 * day + MIN, "kind=tool_call service=s tool=search trace=new parent_span_id=r");
    tl_tl_event(t, T0 + 2 * day + MIN + 100, "kind=tool_call service=s tool=refund trace=new parent_span_id=r");
    tl_tl_event(t, T0 + 2 * day + MIN + 200, "kind=request service=s trace=new");
    tl_tl_run(t, T0, T0 + 2 * day + 10 * MIN, MIN);
    assert_int_equal(tl_tl_count(t, "NewToolPair", TL_ALERT_FIRING), 1);
    const tl_tl_alert *f = tl_tl_find(t, "NewToolPair", TL_ALERT_FIRING);
    assert_string_equal(f->labels, "service=s,attributes.tools=refund,search");
    assert_true(f->ts > T0 + 2 * day);
    tl_tl_free(t);
}


/* A new prompt version compared with the one before it, side by side over the same window (a
 * canary comparison): v2 fires when its invalid output is 3 points above v1's. */
static void test_shard_previous_release(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: WorseThanPrevious\n"
                         "    filter: kind == \"llm_call\"\n"
                         "    group_by: [service, prompt_version]\n"
                         "    release: prompt_version\n"
                         "    during: 1h\n"
                         "    value: ratio(flags contains \"invalid_output\") - "
                         "previous_release(ratio(flags contains \"invalid_output\"))\n"
                         "    window: 10m\n"
                         "    threshold: \"> 3%\"\n"
                         "    min_events: 50\n"
                         "    severity: warning\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: \"{{prompt_version}} is {{value}} worse than the previous version\"\n");
    /* v1 serves throughout at 2%; v2 starts at 30m as a canary at 7%; on another service v3
     * is as good as its predecessor */
    tl_tl_every(t, T0, T0 + 60 * MIN, SEC, "kind=llm_call service=s prompt_version=v1", 0.02, "flags=invalid_output");
    tl_tl_every(t, T0 + 30 * MIN, T0 + 60 * MIN, SEC, "kind=llm_call service=s prompt_version=v2", 0.07,
                "flags=invalid_output");
    tl_tl_every(t, T0, T0 + 60 * MIN, SEC, "kind=llm_call service=o prompt_version=a", 0.02, "flags=invalid_output");
    tl_tl_every(t, T0 + 30 * MIN, T0 + 60 * MIN, SEC, "kind=llm_call service=o prompt_version=b", 0.03,
                "flags=invalid_output");
    tl_tl_run(t, T0, T0 + 60 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "WorseThanPrevious", TL_ALERT_FIRING), 1);
    const tl_tl_alert *f = tl_tl_find(t, "WorseThanPrevious", TL_ALERT_FIRING);
    assert_string_equal(f->labels, "service=s,prompt_version=v2");
    assert_true(fabs(f->value - 0.05) < 0.01);
    tl_tl_free(t);
}


/* With three levels, the highest firing level silences every level below it. */
static void test_shard_three_levels(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: E\n"
                         "    filter: kind == \"tool_call\"\n"
                         "    group_by: [service]\n"
                         "    value: ratio(status != \"ok\")\n"
                         "    window: 1m\n"
                         "    slot: 10s\n"
                         "    threshold: {critical: \"> 20%\", error: \"> 10%\", warning: \"> 5%\"}\n"
                         "    min_events: 10\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: s\n");
    tl_tl_every(t, T0, T0 + 5 * MIN, SEC / 4, "kind=tool_call service=s status=ok", 0.30, "status=error");
    tl_tl_run(t, T0, T0 + 5 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_nalerts(t), 1);
    assert_string_equal(tl_tl_alert_at(t, 0)->labels, "service=s,severity=critical");
    tl_tl_free(t);
}


/* A regular-expression filter on the per-event path. */
static void test_shard_regex_filter(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new("rules:\n"
                         "  - name: StatusTools\n"
                         "    filter: tool matches \"^get_.*_status$\"\n"
                         "    group_by: [tool]\n"
                         "    value: count()\n"
                         "    window: 1m\n"
                         "    threshold: \"> 5\"\n"
                         "    severity: info\n"
                         "    owner: o\n"
                         "    runbook: r.md\n"
                         "    summary: s\n");
    tl_tl_every(t, T0, T0 + MIN, SEC, "kind=tool_call tool=get_order_status", 0, NULL);
    tl_tl_every(t, T0, T0 + MIN, SEC, "kind=tool_call tool=get_order_statuses", 0, NULL);
    tl_tl_every(t, T0, T0 + MIN, SEC, "kind=tool_call tool=set_order_status", 0, NULL);
    tl_tl_run(t, T0, T0 + MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "StatusTools", TL_ALERT_FIRING), 1);
    assert_string_equal(tl_tl_alert_at(t, 0)->labels, "tool=get_order_status");
    tl_tl_free(t);
}


/* Hot reload keeps what did not change: an unchanged rule stays firing (no second page) and
 * resolves later from the windows it kept; a new rule starts at the current watermark; a
 * changed rule starts over. */
static void test_shard_reload_keeps_unchanged_state(void **state)
{
    (void)state;
    tl_tl *t = tl_tl_new(tool_rule);
    tl_tl_every(t, T0, T0 + 20 * MIN, SEC, TOOL_OK, 0.40, "status=error");
    tl_tl_every(t, T0 + 20 * MIN, T0 + 40 * MIN, SEC, TOOL_OK, 0.0, NULL);
    tl_tl_run(t, T0, T0 + 15 * MIN, SEC);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_FIRING), 1);
    /* the same rule, plus a new one; the windows of the shared plan move over */
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s%s", tool_rule,
             "  - name: Calls\n"
             "    filter: kind == \"tool_call\" and tool == \"get_order_status\"\n"
             "    group_by: [service, tool]\n"
             "    value: ratio(status != \"ok\")\n"
             "    window: 5m\n"
             "    slot: 10s\n"
             "    threshold: \"> 20%\"\n"
             "    min_events: 20\n"
             "    severity: info\n"
             "    owner: o\n"
             "    runbook: r.md\n"
             "    summary: s\n");
    tl_tl_reload(t, yaml);
    tl_tl_run(t, T0 + 15 * MIN + SEC, T0 + 40 * MIN, SEC);
    /* ToolErr: still one firing (not paged again), resolved after the errors stop */
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_FIRING), 1);
    assert_int_equal(tl_tl_count(t, "ToolErr", TL_ALERT_RESOLVED), 1);
    const tl_tl_alert *r = tl_tl_find(t, "ToolErr", TL_ALERT_RESOLVED);
    assert_true(r->ts >= T0 + 23 * MIN && r->ts <= T0 + 25 * MIN);
    /* Calls shares the plan, so it sees the full 5m window at once: fires right after the
     * reload (40% > 20%), not 5 minutes later */
    const tl_tl_alert *c = tl_tl_find(t, "Calls", TL_ALERT_FIRING);
    assert_non_null(c);
    assert_true(c->ts > T0 + 15 * MIN && c->ts <= T0 + 15 * MIN + 20 * SEC);
    /* a changed definition starts over: the same name with another threshold pages again */
    char changed[4096];
    snprintf(changed, sizeof changed, "%s", tool_rule);
    char *thr = strstr(changed, "> 10%");
    assert_non_null(thr);
    memcpy(thr, "> 30%", 5);
    tl_tl *u = tl_tl_new(tool_rule);
    tl_tl_every(u, T0, T0 + 30 * MIN, SEC, TOOL_OK, 0.40, "status=error");
    tl_tl_run(u, T0, T0 + 15 * MIN, SEC);
    tl_tl_reload(u, changed);
    tl_tl_run(u, T0 + 15 * MIN + SEC, T0 + 30 * MIN, SEC);
    assert_int_equal(tl_tl_count(u, "ToolErr", TL_ALERT_FIRING), 2);
    tl_tl_free(u);
    tl_tl_free(t);
}

/* The per-event path (route + fold) and evaluation of known series allocate nothing once the
 * series exist (new series and sketch pool growth are the only allocations). */
static void test_shard_steady_state_no_allocation(void **state)
{
    (void)state;
    tl_rules_opts ro = {.lateness_ms = 30000, .check_runbooks = 0};
    char ebuf[2048] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    char *yaml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&yaml, &len);
    fprintf(f, "%s%s", tool_rule, latency_rule + strlen("rules:\n"));
    fclose(f);
    tl_program *p = tl_rules_load_string("t.yaml", yaml, len, &ro, &errs);
    free(yaml);
    if (!p)
        fail_msg("%s", ebuf);
    tl_shard_opts so = {0};
    tl_shard *sh = tl_shard_new(p, &so);
    tl_router r;
    assert_int_equal(tl_router_init(&r, p, 1), 0);
    static const char *const services[] = {"a", "b", "c"};
    tl_event ev;
    uint64_t before = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            before = tl_alloc_count();
        for (int i = 0; i < 60000; i++) {
            int64_t ts = T0 + (int64_t)round * 10 * MIN + (int64_t)i * 10;
            tl_event_reset(&ev);
            ev.ts_ms = ts;
            const char *svc = services[i % 3];
            tl_event_set_str(&ev, TL_S_SERVICE, svc, 1);
            if (i % 2) {
                tl_event_set_str(&ev, TL_S_KIND, "tool_call", 9);
                tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
                tl_event_set_str(&ev, TL_S_STATUS, i % 7 ? "ok" : "error", i % 7 ? 2 : 5);
            } else {
                tl_event_set_str(&ev, TL_S_KIND, "request", 7);
                tl_event_set_num(&ev, TL_N_LATENCY_MS, 100 + (i % 50) * 10); /* 50 distinct values */
            }
            tl_fold fo;
            tl_router_route(&r, &ev, &fo);
            tl_shard_fold(sh, &fo, UINT32_MAX);
            if (i % 1000 == 0)
                tl_shard_evaluate(sh, ts);
        }
    }
    assert_int_equal(tl_alloc_count() - before, 0);
    tl_shard_stats st;
    tl_shard_stats_get(sh, &st);
    assert_int_equal(st.series, 6);
    assert_true(st.folded >= 120000);
    tl_router_fini(&r);
    tl_shard_destroy(sh);
    tl_program_destroy(p);
}

/* ---- cardinality caps: a flood of distinct tool names (issue 5, Bad input) ------------------- */

/* jemalloc's per-thread byte counters (absent under ASan, which brings its own allocator) */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

static uint64_t *jemalloc_counter(const char *name)
{
    uint64_t *p = NULL;
    size_t sz = sizeof p;
    if (!mallctl || mallctl(name, &p, &sz, NULL, 0) != 0)
        return NULL;
    return p;
}

/* Bytes this thread holds from jemalloc (allocated - freed), or 0 without jemalloc. */
static int64_t jemalloc_net(void)
{
    uint64_t *a = jemalloc_counter("thread.allocatedp"), *d = jemalloc_counter("thread.deallocatedp");
    return a && d ? (int64_t)(*a - *d) : 0;
}

static const char flood_rules[] =
    "rules:\n"
    "  - name: ToolErrors\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service, tool]\n"
    "    value: ratio(status != \"ok\")\n"
    "    window: 5m\n"
    "    threshold: \"> 50%\"\n"
    "    severity: warning\n"
    "    owner: o\n"
    "    runbook: r.md\n"
    "    summary: \"{{tool}}\"\n"
    "  - name: ToolCalls\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [tool]\n"
    "    value: count()\n"
    "    window: 5m\n"
    "    threshold: \"> 1000\"\n"
    "    severity: warning\n"
    "    owner: o\n"
    "    runbook: r.md\n"
    "    summary: \"{{tool}}\"\n"
    "  - name: ServiceCalls\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service]\n"
    "    value: count()\n"
    "    window: 5m\n"
    "    threshold: \"> 100000000\"\n"
    "    severity: warning\n"
    "    owner: o\n"
    "    runbook: r.md\n"
    "    summary: \"{{service}}\"\n";

typedef struct flood_sink {
    uint32_t alerts, overflow_alerts;
} flood_sink;

static void flood_alert(void *ctx, const tl_alert *a)
{
    flood_sink *fs = ctx;
    fs->alerts++;
    fs->overflow_alerts += a->n_labels >= 1 && strcmp(a->label_key[0], "overflow") == 0 &&
                           strcmp(a->alert, "ToolCalls") == 0;
}

/* One million tool_call events, each with a tool name never seen before (an attacker's), from
 * one service, through the router and a shard, as a worker folds them. Two group-by sets grow
 * with the names ([service, tool] and [tool]), one does not ([service]). Run with each cap
 * binding in turn: max_series 1000 per set (no total), then a total of 1500 below what the
 * per-set caps would allow. Checked: the live series are exactly what the caps allow plus one
 * overflow series per flooded set; `overflowed` is exactly the lookups beyond the caps (two per
 * event, minus the series the two sets could create); after the caps are reached the flood
 * allocates nothing (tl_alloc_count and jemalloc's bytes of this thread), and what the shard
 * holds is within the size of the series the caps allow; the overflow series still evaluates
 * (ToolCalls fires on it with overflow=true). */
static void test_shard_cardinality_flood_bounded(void **state)
{
    (void)state;
    tl_rules_opts ro = {.lateness_ms = 30000, .check_runbooks = 0};
    char ebuf[2048] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("t.yaml", flood_rules, sizeof flood_rules - 1, &ro, &errs);
    if (!p)
        fail_msg("%s", ebuf);
    assert_int_equal(p->ngroups, 3);
    const uint64_t n = 1000000, warmup = 5000;
    static const struct {
        uint64_t max_series, max_total, live; /* live: series the caps allow, overflow excluded */
    } runs[] = {
        {1000, 0, 1 + 1000 + 1000}, /* the per-set cap binds */
        {1000, 1500, 1500},         /* the total binds first */
    };
    for (size_t run = 0; run < sizeof runs / sizeof runs[0]; run++) {
        int64_t mem0 = jemalloc_net();
        flood_sink fs = {0};
        tl_shard_opts so = {.max_series = runs[run].max_series, .max_series_total = runs[run].max_total,
                            .sink = flood_alert, .sink_ctx = &fs};
        tl_shard *sh = tl_shard_new(p, &so);
        assert_non_null(sh);
        tl_router r;
        assert_int_equal(tl_router_init(&r, p, 1), 0);
        tl_event ev;
        char tool[32];
        uint64_t allocs = 0;
        int64_t mem_warm = 0;
        for (uint64_t i = 0; i < n; i++) {
            if (i == warmup) { /* every cap is reached by now */
                allocs = tl_alloc_count();
                mem_warm = jemalloc_net();
            }
            tl_event_reset(&ev);
            ev.ts_ms = T0 + (int64_t)i; /* 1000 events per second for 16m40s */
            tl_event_set_str(&ev, TL_S_SERVICE, "bot", 3);
            tl_event_set_str(&ev, TL_S_KIND, "tool_call", 9);
            int tl = snprintf(tool, sizeof tool, "tool-%llu", (unsigned long long)i);
            tl_event_set_str(&ev, TL_S_TOOL, tool, (uint32_t)tl);
            tl_event_set_str(&ev, TL_S_STATUS, "ok", 2);
            tl_fold fo;
            assert_int_equal(tl_router_route(&r, &ev, &fo), 3);
            tl_shard_fold(sh, &fo, UINT32_MAX);
        }
        /* the flood past the caps allocated nothing, and kept nothing */
        if (tl_alloc_count() != allocs)
            fail_msg("run %zu: %llu allocations while %llu distinct names went past the caps", run,
                     (unsigned long long)(tl_alloc_count() - allocs), (unsigned long long)(n - warmup));
        assert_int_equal(jemalloc_net(), mem_warm);
        tl_shard_stats st;
        tl_shard_stats_get(sh, &st);
        assert_int_equal(st.series, runs[run].live + 2); /* + the overflow series of the two flooded sets */
        assert_int_equal(st.overflowed, 2 * n - (runs[run].live - 1));
        /* memory: records, keys and table slots of the live series (the tables' slot arrays
         * are at most 4 entries of 16 bytes per series), plus the fixed part of a shard */
        uint64_t bound = 1u << 20;
        for (uint32_t g = 0; g < p->ngroups; g++)
            bound += (runs[run].max_series + 1) * (p->groups[g].record_size + 2 * TL_ALERT_LABEL_MAX + 2 + 64);
        int64_t held = jemalloc_net() - mem0;
        if (mem0 || held) /* 0 and 0: no jemalloc (ASan) */
            if (held < 0 || (uint64_t)held > bound)
                fail_msg("run %zu: the shard holds %lld bytes, bound %llu", run, (long long)held,
                         (unsigned long long)bound);
        /* the overflow series is a series like any other: 1000 calls a second of "new" tools */
        tl_shard_evaluate(sh, T0 + (int64_t)n);
        assert_true(fs.overflow_alerts == 1);
        tl_router_fini(&r);
        tl_shard_destroy(sh);
    }
    tl_program_destroy(p);
}

/* ---- resolved notifications, re-sent (shard.h) ------------------------------------------------ */

#define RS_OK "kind=tool_call service=s status=ok"

/* RATIO_RULE plus `extra`: 50% errors from 0 to 2m fire it at 0:10 (for: 0); the 1m window is
 * back at 10% at ~2:50, which resolves it. Re-sends as given (for_ms < 0: not set). */
static tl_tl *resend_timeline(const char *extra, int64_t for_ms, int64_t every_ms)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s%s", RATIO_RULE(""), extra);
    tl_tl *t = tl_tl_new(yaml);
    if (for_ms >= 0)
        tl_tl_resend(t, for_ms, every_ms);
    tl_tl_every(t, T0, T0 + 2 * MIN, SEC, RS_OK, 0.5, "status=error");
    return t;
}

/* The resolved alerts of rule R, in order. */
static size_t resolved_of(const tl_tl *t, const tl_tl_alert **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < tl_tl_nalerts(t); i++) {
        const tl_tl_alert *a = tl_tl_alert_at(t, i);
        if (a->state == TL_ALERT_RESOLVED && n < cap)
            out[n++] = a;
    }
    return n;
}

/* Resolved at R: the same notification again at R+5m, R+10m, R+15m (every 5m for 15m), with
 * the same transition id, fingerprint, starts_at, ends_at, value and summary, numbered by
 * `resend` and stamped with the watermark of the re-send; nothing after. The series has no
 * data from 4m on (no_data: ignore: no transition), yet it is kept while a re-send is due and
 * freed after the last one. */
static void test_shard_resend_resolved_repeats_the_notification(void **state)
{
    (void)state;
    tl_tl *t = resend_timeline("    no_data: ignore\n", 15 * MIN, 5 * MIN);
    tl_tl_every(t, T0 + 2 * MIN, T0 + 4 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_run(t, T0, T0 + 5 * MIN, 10 * SEC);
    const tl_tl_alert *f = tl_tl_find(t, "R", TL_ALERT_FIRING);
    const tl_tl_alert *r0 = tl_tl_find(t, "R", TL_ALERT_RESOLVED);
    assert_non_null(f);
    assert_non_null(r0);
    int64_t fired = f->ts, res = r0->ts;
    assert_int_equal(fired, T0 + 10 * SEC);
    assert_true(res >= T0 + 2 * MIN + 30 * SEC && res <= T0 + 3 * MIN + 10 * SEC);
    assert_int_equal(r0->resend, 0);
    assert_int_equal(r0->ends_at, res);
    /* a minute before the last re-send: two so far, and the series (no data for 10m) kept */
    tl_tl_run(t, T0 + 5 * MIN + 10 * SEC, res + 14 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_RESOLVED), 3);
    assert_int_equal(tl_tl_series(t), 1);
    tl_tl_run(t, res + 14 * MIN + 10 * SEC, T0 + 60 * MIN, 10 * SEC);
    const tl_tl_alert *r[8];
    assert_int_equal(resolved_of(t, r, 8), 4);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 1);
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(r[k]->resend, k);
        assert_int_equal(r[k]->ts, res + (int64_t)k * 5 * MIN);
        assert_int_equal(r[k]->emitted_wm, r[k]->ts); /* sent by the evaluation at that time */
        assert_int_equal(r[k]->starts_at, fired);
        assert_int_equal(r[k]->ends_at, res);
        assert_string_equal(r[k]->transition_id, r[0]->transition_id);
        assert_string_equal(r[k]->fingerprint, f->fingerprint);
        assert_true(r[k]->value == r[0]->value);
        assert_string_equal(r[k]->summary, r[0]->summary);
        assert_string_equal(r[k]->labels, "service=s");
    }
    assert_string_not_equal(r[0]->transition_id, f->transition_id);
    assert_int_equal(tl_tl_series(t), 0); /* freed once nothing was left to re-send */
    tl_tl_free(t);
}

/* Firing again ends the re-sends of the previous resolution; the next resolution has its own
 * transition id and its own re-sends. */
static void test_shard_resend_stops_when_the_alert_fires_again(void **state)
{
    (void)state;
    tl_tl *t = resend_timeline("", 15 * MIN, 5 * MIN);
    tl_tl_every(t, T0 + 2 * MIN, T0 + 9 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_every(t, T0 + 9 * MIN, T0 + 12 * MIN, SEC, RS_OK, 0.5, "status=error");
    tl_tl_every(t, T0 + 12 * MIN, T0 + 30 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 2);
    const tl_tl_alert *f2 = NULL;
    for (size_t i = 0; i < tl_tl_nalerts(t); i++)
        if (tl_tl_alert_at(t, i)->state == TL_ALERT_FIRING)
            f2 = tl_tl_alert_at(t, i);
    assert_int_equal(f2->ts, T0 + 9 * MIN + 20 * SEC); /* 10 errors in the 1m window: 16.7% */
    const tl_tl_alert *r[16];
    size_t n = resolved_of(t, r, 16);
    /* first resolution ~2:50, its re-send ~7:50 (then the alert fires at 9:20: no more); the
     * second ~12:50, re-sent ~17:50, ~22:50, ~27:50 */
    assert_int_equal(n, 6);
    int64_t res1 = r[0]->ts, res2 = r[2]->ts;
    assert_int_equal(r[1]->ts, res1 + 5 * MIN);
    assert_int_equal(r[1]->resend, 1);
    assert_string_equal(r[1]->transition_id, r[0]->transition_id);
    assert_true(res2 > f2->ts);
    assert_int_equal(r[2]->resend, 0);
    assert_int_equal(r[2]->starts_at, f2->ts);
    assert_string_not_equal(r[2]->transition_id, r[0]->transition_id);
    for (size_t k = 3; k < 6; k++) {
        assert_int_equal(r[k]->resend, k - 2);
        assert_int_equal(r[k]->ts, res2 + (int64_t)(k - 2) * 5 * MIN);
        assert_string_equal(r[k]->transition_id, r[2]->transition_id);
        assert_string_equal(r[k]->fingerprint, r[0]->fingerprint);
    }
    tl_tl_free(t);
}

/* Going pending again is enough to stop them, even if it never fires (`for: 2m`, and a 10 s
 * burst of errors at 9m holds the condition for less than a minute). */
static void test_shard_resend_stops_when_pending_again(void **state)
{
    (void)state;
    tl_tl *t = resend_timeline("    for: 2m\n", 15 * MIN, 5 * MIN);
    tl_tl_every(t, T0 + 2 * MIN, T0 + 9 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_every(t, T0 + 9 * MIN, T0 + 9 * MIN + 10 * SEC, SEC, RS_OK, 1.0, "status=error");
    tl_tl_every(t, T0 + 9 * MIN + 10 * SEC, T0 + 30 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 1);
    const tl_tl_alert *r[8];
    assert_int_equal(resolved_of(t, r, 8), 2); /* the original and the re-send at +5m only */
    assert_int_equal(r[1]->ts, r[0]->ts + 5 * MIN);
    assert_int_equal(r[1]->resend, 1);
    tl_tl_free(t);
}

/* Off: not asked for (the shard options' zero, as `tripline test` and these timelines run),
 * resend_resolved_ms 0, or an interval longer than the period. */
static void test_shard_resend_off(void **state)
{
    (void)state;
    const int64_t cases[][2] = {{-1, 0}, {0, 5 * MIN}, {4 * MIN, 5 * MIN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_tl *t = resend_timeline("", cases[i][0], cases[i][1]);
        tl_tl_every(t, T0 + 2 * MIN, T0 + 30 * MIN, SEC, RS_OK, 0, NULL);
        tl_tl_run(t, T0, T0 + 30 * MIN, 10 * SEC);
        assert_int_equal(tl_tl_count(t, "R", TL_ALERT_FIRING), 1);
        assert_int_equal(tl_tl_count(t, "R", TL_ALERT_RESOLVED), 1);
        assert_int_equal(tl_tl_find(t, "R", TL_ALERT_RESOLVED)->resend, 0);
        tl_tl_free(t);
    }
}

/* A hot reload between the resolution and its re-sends keeps them (the instance moves over
 * with the rule), and a 2m interval for 5m gives two. */
static void test_shard_resend_survives_reload(void **state)
{
    (void)state;
    tl_tl *t = resend_timeline("", 5 * MIN, 2 * MIN);
    tl_tl_every(t, T0 + 2 * MIN, T0 + 20 * MIN, SEC, RS_OK, 0, NULL);
    tl_tl_run(t, T0, T0 + 4 * MIN, 10 * SEC);
    assert_int_equal(tl_tl_count(t, "R", TL_ALERT_RESOLVED), 1);
    tl_tl_reload(t, RATIO_RULE(""));
    tl_tl_run(t, T0 + 4 * MIN + 10 * SEC, T0 + 20 * MIN, 10 * SEC);
    const tl_tl_alert *r[8];
    assert_int_equal(resolved_of(t, r, 8), 3);
    assert_int_equal(r[1]->ts, r[0]->ts + 2 * MIN);
    assert_int_equal(r[2]->ts, r[0]->ts + 4 * MIN);
    assert_string_equal(r[2]->transition_id, r[0]->transition_id);
    tl_tl_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_for_delays_firing),
        cmocka_unit_test(test_shard_for_resets_on_a_single_miss),
        cmocka_unit_test(test_shard_min_events_gate),
        cmocka_unit_test(test_shard_resolves_after_recovery),
        cmocka_unit_test(test_shard_resolves_when_data_stops),
        cmocka_unit_test(test_shard_policy_violation_fires_renotifies_resolves),
        cmocka_unit_test(test_shard_early_firing_ahead_of_watermark),
        cmocka_unit_test(test_shard_p95_latency_per_service),
        cmocka_unit_test(test_shard_late_events_are_counted),
        cmocka_unit_test(test_shard_cost_per_success),
        cmocka_unit_test(test_shard_fingerprints_distinct_per_series),
        cmocka_unit_test(test_shard_steady_state_no_allocation),
        cmocka_unit_test(test_shard_cardinality_flood_bounded),
        cmocka_unit_test(test_shard_hysteresis_stops_flapping),
        cmocka_unit_test(test_shard_keep_firing_for),
        cmocka_unit_test(test_shard_confidence_guard),
        cmocka_unit_test(test_shard_max_instances),
        cmocka_unit_test(test_shard_cap_does_not_depend_on_batching),
        cmocka_unit_test(test_shard_baseline_7d),
        cmocka_unit_test(test_shard_previous_and_offset),
        cmocka_unit_test(test_shard_absence_alert),
        cmocka_unit_test(test_shard_no_data_policies),
        cmocka_unit_test(test_shard_severity_levels),
        cmocka_unit_test(test_shard_per_trace_values),
        cmocka_unit_test(test_shard_sequence_rule),
        cmocka_unit_test(test_shard_tool_combinations),
        cmocka_unit_test(test_shard_event_rule),
        cmocka_unit_test(test_shard_distinct_users),
        cmocka_unit_test(test_shard_release_aware),
        cmocka_unit_test(test_shard_learned_tool_combinations),
        cmocka_unit_test(test_shard_previous_release),
        cmocka_unit_test(test_shard_three_levels),
        cmocka_unit_test(test_shard_regex_filter),
        cmocka_unit_test(test_shard_reload_keeps_unchanged_state),
        cmocka_unit_test(test_shard_resend_resolved_repeats_the_notification),
        cmocka_unit_test(test_shard_resend_stops_when_the_alert_fires_again),
        cmocka_unit_test(test_shard_resend_stops_when_pending_again),
        cmocka_unit_test(test_shard_resend_off),
        cmocka_unit_test(test_shard_resend_survives_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
