/* tests/unit/test_traces.c - the per-trace table: many traces open at once (the index grows
 * from its small start), every one closes with the right summary, records are reused, and the
 * table's limit counts what it cannot track instead of failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter.h"
#include "rules.h"
#include "traces.h"

#define T0 (1800000000000LL)

static const char rules[] = "rules:\n"
                            "  - name: ToolCallsPerTrace\n"
                            "    filter: kind == \"trace\"\n"
                            "    group_by: [service]\n"
                            "    value: avg(trace_tool_calls)\n"
                            "    window: 5m\n"
                            "    threshold: \"> 4\"\n"
                            "    severity: warning\n"
                            "    owner: o\n"
                            "    runbook: r.md\n"
                            "    summary: \"{{value}}\"\n";

typedef struct seen {
    uint32_t summaries;
    uint64_t tool_calls, events;
    uint8_t *closed; /* per trace number */
} seen;

static void on_emit(void *ctx, const tl_event *ev)
{
    seen *s = ctx;
    if (!(ev->str_present & (1u << TL_S_KIND)) || !tl_str_eq_c(ev->str[TL_S_KIND], "trace"))
        return;
    s->summaries++;
    s->tool_calls += (uint64_t)ev->tnum[TL_T_TOOL_CALLS];
    s->events += (uint64_t)ev->tnum[TL_T_EVENTS];
    char id[32] = "";
    unsigned n = 0;
    tl_str tid = ev->str[TL_S_TRACE_ID];
    assert_true(tid.n < sizeof id);
    memcpy(id, tid.p, tid.n);
    assert_int_equal(sscanf(id, "trace-%u", &n), 1);
    assert_int_equal(s->closed[n], 0); /* each trace reports once */
    s->closed[n] = 1;
}

static tl_program *load(void)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .check_runbooks = 0};
    char ebuf[2048] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("t.yaml", rules, strlen(rules), &ro, &errs);
    if (!p)
        fail_msg("%s", ebuf);
    assert_non_null(p->traces);
    return p;
}

static void observe(tl_traces *t, tl_filter_ctx *fc, const char *kind, unsigned n, int root, int64_t ts, seen *s)
{
    char id[32];
    int len = snprintf(id, sizeof id, "trace-%u", n);
    tl_event ev;
    tl_event_reset(&ev);
    ev.ts_ms = ts;
    tl_event_set_str(&ev, TL_S_TRACE_ID, id, (uint32_t)len);
    tl_event_set_str(&ev, TL_S_KIND, kind, (uint32_t)strlen(kind));
    tl_event_set_str(&ev, TL_S_SERVICE, "bot", 3);
    if (!root)
        tl_event_set_str(&ev, TL_S_PARENT_SPAN_ID, "root", 4);
    else
        tl_event_set_str(&ev, TL_S_STATUS, "ok", 2);
    tl_event_set_str(&ev, TL_S_TOOL, "search", 6);
    tl_filter_eval(fc, &ev);
    tl_traces_observe(t, &ev, fc->bits, on_emit, s);
}

/* 20,000 traces open at once (the index starts at 4,096 slots and must grow to 65,536), each
 * with two tool calls, then all closed: every one reports once, with its own counts. Then the
 * same again, which reuses the freed records. */
static void test_traces_many_open_at_once(void **state)
{
    (void)state;
    const unsigned n = 20000;
    tl_program *p = load();
    tl_traces *t = tl_traces_new(p, 100000);
    tl_filter_ctx fc;
    assert_non_null(t);
    assert_int_equal(tl_filter_ctx_init(&fc, p), 0);
    seen s = {.closed = calloc(n, 1)};
    for (int round = 0; round < 2; round++) {
        memset(s.closed, 0, n);
        s.summaries = 0;
        s.tool_calls = s.events = 0;
        int64_t ts = T0 + (int64_t)round * 60000;
        for (int k = 0; k < 2; k++)
            for (unsigned i = 0; i < n; i++)
                observe(t, &fc, "tool_call", i, 0, ts + k, &s);
        tl_traces_stats st;
        tl_traces_stats_get(t, &st);
        assert_int_equal(st.open, n);
        for (unsigned i = 0; i < n; i++)
            observe(t, &fc, "request", i, 1, ts + 10, &s);
        assert_int_equal(s.summaries, n);
        assert_int_equal(s.tool_calls, 2ull * n);
        assert_int_equal(s.events, 3ull * n);
        tl_traces_stats_get(t, &st);
        assert_int_equal(st.open, 0);
        assert_int_equal(st.untracked, 0);
    }
    free(s.closed);
    tl_filter_ctx_fini(&fc);
    tl_traces_destroy(t);
    tl_program_destroy(p);
}

/* A table of 1,000 records: the 1,001st open trace is counted as untracked, the others are
 * kept and close normally. */
static void test_traces_limit_counts_untracked(void **state)
{
    (void)state;
    tl_program *p = load();
    tl_traces *t = tl_traces_new(p, 1000);
    tl_filter_ctx fc;
    assert_non_null(t);
    assert_int_equal(tl_filter_ctx_init(&fc, p), 0);
    seen s = {.closed = calloc(1200, 1)};
    for (unsigned i = 0; i < 1200; i++)
        observe(t, &fc, "tool_call", i, 0, T0, &s);
    tl_traces_stats st;
    tl_traces_stats_get(t, &st);
    assert_int_equal(st.open, 1000);
    assert_int_equal(st.untracked, 200);
    for (unsigned i = 0; i < 1000; i++)
        observe(t, &fc, "request", i, 1, T0 + 10, &s);
    assert_int_equal(s.summaries, 1000);
    free(s.closed);
    tl_filter_ctx_fini(&fc);
    tl_traces_destroy(t);
    tl_program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traces_many_open_at_once),
        cmocka_unit_test(test_traces_limit_counts_untracked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
