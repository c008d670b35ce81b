/* tests/unit/test_fleet.c - the synthetic fleet (engine/fleet.h): determinism, event order,
 * event shape, the quiet history before the live part, the demo scenario's incidents at the
 * rates rules rely on (offsets counted from the live start), and no allocation on the
 * per-event path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "fleet.h"

#define MIN_MS(m) ((int64_t)(m) * 60 * 1000)
#define T0 1750000000000LL /* an arbitrary epoch-ms start */
#define HIST MIN_MS(24 * 60) /* the demo tests' history: one day, enough for the baselines */

/* A fleet at 20 traces/s starting at T0, with `history_ms` of history (default rate) first. */
static tl_fleet *make_h(uint64_t seed, int scenario, int64_t history_ms)
{
    tl_fleet_opts o = {.seed = seed, .start_ms = T0, .traces_per_sec = 20, .scenario = scenario,
                       .history_ms = history_ms};
    tl_fleet *f = tl_fleet_new(&o);
    assert_non_null(f);
    return f;
}

static tl_fleet *make(uint64_t seed, int scenario) { return make_h(seed, scenario, 0); }

static int has_str(const tl_event *ev, enum tl_str_field fld)
{
    return (ev->str_present >> fld) & 1u;
}
static int has_num(const tl_event *ev, enum tl_num_field fld)
{
    return (ev->num_present >> fld) & 1u;
}

static int str_is(const tl_event *ev, enum tl_str_field fld, const char *s)
{
    return has_str(ev, fld) && tl_str_eq_c(ev->str[fld], s);
}

static int has_flag(const tl_event *ev, const char *flag)
{
    for (uint32_t i = 0; i < ev->n_flags; i++)
        if (tl_str_eq_c(ev->flags[i], flag))
            return 1;
    return 0;
}

static int events_equal(const tl_event *a, const tl_event *b)
{
    if (a->ts_ms != b->ts_ms || a->str_present != b->str_present ||
        a->num_present != b->num_present || a->n_flags != b->n_flags || a->n_attrs != b->n_attrs)
        return 0;
    for (int i = 0; i < TL_S__COUNT; i++)
        if (has_str(a, (enum tl_str_field)i) && !tl_str_eq(a->str[i], b->str[i]))
            return 0;
    for (int i = 0; i < TL_N__COUNT; i++)
        if (has_num(a, (enum tl_num_field)i) && a->num[i] != b->num[i])
            return 0;
    for (uint32_t i = 0; i < a->n_flags; i++)
        if (!tl_str_eq(a->flags[i], b->flags[i]))
            return 0;
    for (uint32_t i = 0; i < a->n_attrs; i++)
        if (!tl_str_eq(a->attr_key[i], b->attr_key[i]) ||
            !tl_str_eq(a->attr_val[i], b->attr_val[i]))
            return 0;
    return 1;
}

static int is_hex(tl_str s)
{
    for (uint32_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

static uint64_t hex64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 4 | (uint64_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    return v;
}

/* ---- determinism ---------------------------------------------------------------------- */

/* With an hour of history (~180 traces) the 50000 events cross into the live part. */
static void test_fleet_same_seed_same_events(void **state)
{
    (void)state;
    tl_fleet *a = make_h(42, TL_FLEET_SCENARIO_DEMO, MIN_MS(60));
    tl_fleet *b = make_h(42, TL_FLEET_SCENARIO_DEMO, MIN_MS(60));
    tl_event ea, eb;
    for (int i = 0; i < 50000; i++) {
        assert_int_equal(tl_fleet_next(a, &ea), 0);
        assert_int_equal(tl_fleet_next(b, &eb), 0);
        assert_true(events_equal(&ea, &eb));
    }
    assert_true(ea.ts_ms > T0 + MIN_MS(60));
    tl_fleet_destroy(a);
    tl_fleet_destroy(b);
}

static void test_fleet_different_seed_different_events(void **state)
{
    (void)state;
    tl_fleet *a = make(1, TL_FLEET_SCENARIO_NONE), *b = make(2, TL_FLEET_SCENARIO_NONE);
    tl_event ea, eb;
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        tl_fleet_next(a, &ea);
        tl_fleet_next(b, &eb);
        differ += !events_equal(&ea, &eb);
    }
    assert_true(differ > 900);
    tl_fleet_destroy(a);
    tl_fleet_destroy(b);
}

/* ---- order and shape ------------------------------------------------------------------ */

static void test_fleet_timestamps_non_decreasing(void **state)
{
    (void)state;
    tl_fleet *f = make(7, TL_FLEET_SCENARIO_DEMO);
    tl_event ev;
    int64_t prev = T0;
    for (int i = 0; i < 200000; i++) {
        tl_fleet_next(f, &ev);
        assert_true(ev.ts_ms >= prev);
        prev = ev.ts_ms;
    }
    /* 200k events at 20 traces/s (~8-9 events each) span roughly 20 minutes. */
    assert_true(prev - T0 > MIN_MS(12) && prev - T0 < MIN_MS(30));
    tl_fleet_destroy(f);
}

static void test_fleet_required_fields(void **state)
{
    (void)state;
    tl_fleet *f = make(9, TL_FLEET_SCENARIO_DEMO);
    tl_event ev;
    int kinds[6] = {0};
    const char *kind_names[6] = {"request",   "llm_call",  "tool_call",
                                 "retrieval", "guardrail", "feedback"};
    for (int i = 0; i < 100000; i++) {
        tl_fleet_next(f, &ev);
        assert_true(has_str(&ev, TL_S_TRACE_ID) && ev.str[TL_S_TRACE_ID].n == 32);
        assert_true(is_hex(ev.str[TL_S_TRACE_ID]));
        assert_true(has_str(&ev, TL_S_SPAN_ID) && ev.str[TL_S_SPAN_ID].n == 16);
        assert_true(is_hex(ev.str[TL_S_SPAN_ID]));
        assert_true(has_str(&ev, TL_S_SERVICE) && ev.str[TL_S_SERVICE].n > 0);
        assert_true(has_str(&ev, TL_S_KIND));
        assert_true(ev.ts_ms >= T0);
        int k = -1;
        for (int j = 0; j < 6; j++)
            if (tl_str_eq_c(ev.str[TL_S_KIND], kind_names[j]))
                k = j;
        assert_true(k >= 0);
        kinds[k]++;
        if (k == 0) {
            assert_true(has_num(&ev, TL_N_LATENCY_MS) && ev.num[TL_N_LATENCY_MS] > 0);
            assert_true(str_is(&ev, TL_S_STATUS, "ok") || str_is(&ev, TL_S_STATUS, "error"));
            assert_false(has_str(&ev, TL_S_PARENT_SPAN_ID));
        } else {
            assert_true(has_str(&ev, TL_S_PARENT_SPAN_ID) && ev.str[TL_S_PARENT_SPAN_ID].n == 16);
        }
        if (k == 1) {
            assert_true(has_str(&ev, TL_S_MODEL) && has_str(&ev, TL_S_PROVIDER));
            assert_true(has_str(&ev, TL_S_MODEL_VERSION) && has_str(&ev, TL_S_PROMPT_VERSION));
            assert_true(has_num(&ev, TL_N_COST_USD) && ev.num[TL_N_COST_USD] > 0);
            double in = ev.num[TL_N_INPUT_TOKENS];
            assert_true(in >= 200 && in <= 4000);
        }
        if (k == 2)
            assert_true(has_str(&ev, TL_S_TOOL) && has_num(&ev, TL_N_LATENCY_MS));
        if (k == 4)
            assert_true(str_is(&ev, TL_S_TOOL, "input_filter"));
        if (k == 5)
            assert_true(has_num(&ev, TL_N_SCORE) &&
                        (ev.num[TL_N_SCORE] == 1 || ev.num[TL_N_SCORE] == -1));
        int found;
        tl_str user = tl_event_attr(&ev, tl_str_c("user_id"), &found);
        assert_true(found && user.n > 0);
        tl_event_attr(&ev, tl_str_c("region"), &found);
        assert_true(found);
    }
    /* Every kind occurs; one request and one guardrail per trace. */
    for (int j = 0; j < 6; j++)
        assert_true(kinds[j] > 0);
    assert_true(abs(kinds[0] - kinds[4]) < 400); /* traces straddling the end */
    assert_true(kinds[1] > kinds[0]);            /* 1-4 model calls per trace */
    tl_fleet_destroy(f);
}

/* The root request is the last event of its trace, and every child names it as parent. */
#define SET_BITS 20
typedef struct trace_set {
    uint64_t hi[1u << SET_BITS], lo[1u << SET_BITS], root[1u << SET_BITS];
    uint8_t ended[1u << SET_BITS];
} trace_set;

static size_t set_find(trace_set *s, uint64_t hi, uint64_t lo)
{
    size_t mask = (1u << SET_BITS) - 1, i = (size_t)(hi ^ (lo * 0x9e3779b97f4a7c15ull)) & mask;
    while ((s->hi[i] || s->lo[i]) && !(s->hi[i] == hi && s->lo[i] == lo))
        i = (i + 1) & mask;
    s->hi[i] = hi;
    s->lo[i] = lo;
    return i;
}

static void test_fleet_request_ends_its_trace(void **state)
{
    (void)state;
    trace_set *s = calloc(1, sizeof *s);
    assert_non_null(s);
    tl_fleet *f = make(11, TL_FLEET_SCENARIO_NONE);
    tl_event ev;
    for (int i = 0; i < 200000; i++) {
        tl_fleet_next(f, &ev);
        const char *t = ev.str[TL_S_TRACE_ID].p;
        size_t at = set_find(s, hex64(t), hex64(t + 16));
        assert_false(s->ended[at]);
        if (str_is(&ev, TL_S_KIND, "request")) {
            uint64_t span = hex64(ev.str[TL_S_SPAN_ID].p);
            if (s->root[at])
                assert_true(s->root[at] == span);
            s->ended[at] = 1;
        } else {
            uint64_t parent = hex64(ev.str[TL_S_PARENT_SPAN_ID].p);
            if (s->root[at])
                assert_true(s->root[at] == parent);
            s->root[at] = parent;
        }
    }
    tl_fleet_destroy(f);
    free(s);
}

static void test_fleet_arrival_rate(void **state)
{
    (void)state;
    tl_fleet *f = make(5, TL_FLEET_SCENARIO_NONE);
    tl_event ev;
    int requests = 0;
    int services[3] = {0};
    for (;;) {
        tl_fleet_next(f, &ev);
        if (ev.ts_ms >= T0 + MIN_MS(10))
            break;
        if (str_is(&ev, TL_S_KIND, "request")) {
            requests++;
            services[str_is(&ev, TL_S_SERVICE, "support-bot")     ? 0
                     : str_is(&ev, TL_S_SERVICE, "coding-agent") ? 1
                                                                 : 2]++;
        }
    }
    /* 20 traces/s for 10 minutes = 12000, a few seconds lost at the edges. */
    assert_true(requests > 11400 && requests < 12400);
    for (int i = 0; i < 3; i++)
        assert_true(services[i] > 3400 && services[i] < 4600);
    tl_fleet_destroy(f);
}

static void test_fleet_one_service(void **state)
{
    (void)state;
    tl_fleet_opts o = {.seed = 3, .start_ms = T0, .n_services = 1};
    tl_fleet *f = tl_fleet_new(&o);
    assert_non_null(f);
    tl_event ev;
    for (int i = 0; i < 20000; i++) {
        tl_fleet_next(f, &ev);
        assert_true(str_is(&ev, TL_S_SERVICE, "support-bot"));
    }
    tl_fleet_destroy(f);
}

/* ---- the demo scenario ---------------------------------------------------------------- */

typedef struct demo_stats {
    long gos_in, gos_in_err;   /* support-bot get_order_status during the outage */
    long gos_in_5xx;           /* ... of which error_type=upstream_5xx */
    long gos_out, gos_out_err; /* ... outside it */
    long gos_5min;             /* ... in [5m, 10m) */
    double *lat_in, *lat_out;  /* support-bot request latency, spike / clearly outside */
    size_t n_in, n_out;
    long policy;               /* policy_violation events in the first 50 minutes */
    int64_t policy_ts;
    long other_errors_in_outage; /* non-ok tool calls other than get_order_status */
    long other_tools_in_outage;

    /* the history (before the live start T0 + HIST; demo run only) */
    int ordered;                 /* timestamps never decreased over the whole run */
    int64_t first_ts, last_hist_ts;
    long hist_requests, hist_services[3];
    long hist_incidents;         /* policy violations, risky tool calls, bad prompt versions */
    long hist_gos, hist_gos_err;
    double hist_sb_cost;         /* support-bot cost_usd and requests */
    long hist_sb_requests;
    long live_requests_10m;      /* requests in the first 10 live minutes */

    /* support-bot per live minute: cost_usd of llm_calls, requests, llm_calls on gpt-4o */
    double sb_cost[95];
    long sb_requests[95], sb_llm[95], sb_gpt4o[95];

    /* support-bot llm_calls by prompt version */
    long v13_before;             /* v13 before +50m (history included) */
    long v12_after_50, v13_after_50; /* in [+50m, +52m) */
    long v12_after_52;           /* v12 from +52m on */
    long v12_n, v12_inv;         /* v12 llm_calls and invalid_output among them */
    long v13_bad_n, v13_bad_inv; /* v13 in [+50m, +62m) */
    long v13_late_n, v13_late_inv; /* v13 from +62m on */
} demo_stats;

static demo_stats demo, healthy;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double p95(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(0.95 * (double)(n - 1))];
}

static int service_index(const tl_event *ev)
{
    return str_is(ev, TL_S_SERVICE, "support-bot")    ? 0
           : str_is(ev, TL_S_SERVICE, "coding-agent") ? 1
                                                       : 2;
}

/* The history part of a run: everything before the live start. */
static void note_history(demo_stats *st, const tl_event *ev)
{
    int risky;
    tl_event_attr(ev, TL_STR_LIT("risk"), &risky);
    int sb = str_is(ev, TL_S_SERVICE, "support-bot");
    st->hist_incidents += has_flag(ev, "policy_violation") || risky ||
                          (sb && str_is(ev, TL_S_PROMPT_VERSION, "support-v13"));
    if (str_is(ev, TL_S_KIND, "request")) {
        st->hist_requests++;
        st->hist_services[service_index(ev)]++;
        st->hist_sb_requests += sb;
    } else if (sb && str_is(ev, TL_S_KIND, "llm_call")) {
        st->hist_sb_cost += ev->num[TL_N_COST_USD];
    } else if (sb && str_is(ev, TL_S_TOOL, "get_order_status")) {
        st->hist_gos++;
        st->hist_gos_err += !str_is(ev, TL_S_STATUS, "ok");
    }
    st->last_hist_ts = ev->ts_ms;
}

/* Support-bot model calls and requests of the live part, for the cost spike and release. */
static void note_support_live(demo_stats *st, const tl_event *ev, int64_t rel)
{
    int minute = (int)(rel / MIN_MS(1));
    if (str_is(ev, TL_S_KIND, "request")) {
        st->sb_requests[minute]++;
        return;
    }
    if (!str_is(ev, TL_S_KIND, "llm_call"))
        return;
    st->sb_cost[minute] += ev->num[TL_N_COST_USD];
    st->sb_llm[minute]++;
    st->sb_gpt4o[minute] += str_is(ev, TL_S_MODEL, "gpt-4o");
    int v13 = str_is(ev, TL_S_PROMPT_VERSION, "support-v13");
    assert_true(v13 || str_is(ev, TL_S_PROMPT_VERSION, "support-v12"));
    int inv = has_flag(ev, "invalid_output");
    if (rel < MIN_MS(50)) {
        st->v13_before += v13;
    } else if (rel < MIN_MS(52)) {
        st->v12_after_50 += !v13;
        st->v13_after_50 += v13;
    } else {
        st->v12_after_52 += !v13;
    }
    if (!v13) {
        st->v12_n++;
        st->v12_inv += inv;
    } else if (rel < MIN_MS(62)) {
        st->v13_bad_n++;
        st->v13_bad_inv += inv;
    } else {
        st->v13_late_n++;
        st->v13_late_inv += inv;
    }
}

/* One pass over a run: the demo with HIST of history up to the end of its scenario, the
 * healthy fleet without history over the first 50 minutes. Offsets are from the live start. */
static void run_scenario(int scenario, demo_stats *st)
{
    memset(st, 0, sizeof *st);
    st->lat_in = calloc(100000, sizeof(double));
    st->lat_out = calloc(100000, sizeof(double));
    assert_non_null(st->lat_in);
    assert_non_null(st->lat_out);
    int demo_run = scenario == TL_FLEET_SCENARIO_DEMO;
    int64_t live = demo_run ? T0 + HIST : T0;
    int64_t end = demo_run ? tl_fleet_scenario_length_ms(scenario) : MIN_MS(50);
    tl_fleet *f = make_h(2025, scenario, demo_run ? HIST : 0);
    tl_event ev;
    int64_t prev = INT64_MIN;
    st->ordered = 1;
    st->first_ts = INT64_MIN;
    for (;;) {
        tl_fleet_next(f, &ev);
        if (ev.ts_ms < prev)
            st->ordered = 0;
        if (prev == INT64_MIN)
            st->first_ts = ev.ts_ms;
        prev = ev.ts_ms;
        int64_t rel = ev.ts_ms - live;
        if (rel < 0) {
            note_history(st, &ev);
            continue;
        }
        if (rel >= end)
            break;
        if (rel < MIN_MS(10) && str_is(&ev, TL_S_KIND, "request"))
            st->live_requests_10m++;
        if (has_flag(&ev, "policy_violation")) {
            st->policy++;
            st->policy_ts = rel;
        }
        if (!str_is(&ev, TL_S_SERVICE, "support-bot"))
            continue;
        note_support_live(st, &ev, rel);
        int outage = rel >= MIN_MS(3) && rel < MIN_MS(20);
        if (str_is(&ev, TL_S_KIND, "tool_call")) {
            int err = str_is(&ev, TL_S_STATUS, "error");
            if (str_is(&ev, TL_S_TOOL, "get_order_status")) {
                if (outage) {
                    st->gos_in++;
                    st->gos_in_err += err;
                    st->gos_in_5xx += err && str_is(&ev, TL_S_ERROR_TYPE, "upstream_5xx");
                } else {
                    st->gos_out++;
                    st->gos_out_err += err;
                }
                if (rel >= MIN_MS(5) && rel < MIN_MS(10))
                    st->gos_5min++;
            } else if (outage) {
                st->other_tools_in_outage++;
                st->other_errors_in_outage += err;
            }
        } else if (str_is(&ev, TL_S_KIND, "request")) {
            double lat = ev.num[TL_N_LATENCY_MS];
            /* Requests are stamped at their end: a trace started inside the spike ends up
             * to ~25 s later, so keep a minute of margin on each side. */
            if (rel >= MIN_MS(23) && rel < MIN_MS(42))
                st->lat_in[st->n_in++] = lat;
            else if (rel < MIN_MS(22) || rel >= MIN_MS(43))
                st->lat_out[st->n_out++] = lat;
        }
    }
    tl_fleet_destroy(f);
}

static int demo_setup(void **state)
{
    (void)state;
    run_scenario(TL_FLEET_SCENARIO_DEMO, &demo);
    run_scenario(TL_FLEET_SCENARIO_NONE, &healthy);
    return 0;
}

static int demo_teardown(void **state)
{
    (void)state;
    free(demo.lat_in);
    free(demo.lat_out);
    free(healthy.lat_in);
    free(healthy.lat_out);
    return 0;
}

static void test_fleet_demo_tool_outage(void **state)
{
    (void)state;
    /* Hundreds of calls in a 5-minute window, so a windowed error-rate rule has data. */
    assert_true(demo.gos_5min > 500);
    double in = (double)demo.gos_in_err / (double)demo.gos_in;
    double out = (double)demo.gos_out_err / (double)demo.gos_out;
    assert_true(in > 0.30 && in < 0.40);
    assert_true(out < 0.03);
    assert_true(demo.gos_in_5xx == demo.gos_in_err);
    /* Only get_order_status fails. */
    assert_true((double)demo.other_errors_in_outage / (double)demo.other_tools_in_outage < 0.03);
    /* Without the scenario, no outage. */
    assert_true((double)healthy.gos_in_err / (double)healthy.gos_in < 0.03);
}

static void test_fleet_demo_latency_spike(void **state)
{
    (void)state;
    assert_true(demo.n_in > 1000 && demo.n_out > 1000);
    assert_true(p95(demo.lat_in, demo.n_in) > 15000);
    assert_true(p95(demo.lat_out, demo.n_out) < 15000);
    /* "Around 20 s": the median spiked request is 19-25 s. */
    double med = demo.lat_in[demo.n_in / 2];
    assert_true(med > 19000 && med < 25000);
    assert_true(p95(healthy.lat_in, healthy.n_in) < 15000);
}

static void test_fleet_demo_one_policy_violation(void **state)
{
    (void)state;
    assert_int_equal(demo.policy, 1);
    assert_true(demo.policy_ts >= MIN_MS(2) && demo.policy_ts < MIN_MS(2) + 60000);
    assert_int_equal(healthy.policy, 0);
}

/* The demo run's day of history: the default 0.05 traces/s, healthy, all three services,
 * then the live rate; ordered across the switch. */
static void test_fleet_history_rate_and_order(void **state)
{
    (void)state;
    printf("history: %ld requests in a day (expected 4320), support-bot %ld, coding %ld, "
           "workflow %ld; first live 10 min: %ld requests\n",
           demo.hist_requests, demo.hist_services[0], demo.hist_services[1],
           demo.hist_services[2], demo.live_requests_10m);
    assert_true(demo.ordered);
    assert_true(demo.first_ts >= T0 && demo.first_ts < T0 + 5000);
    assert_true(demo.last_hist_ts > T0 + HIST - MIN_MS(10) && demo.last_hist_ts < T0 + HIST);
    assert_true(demo.hist_requests > 4100 && demo.hist_requests < 4540);
    for (int i = 0; i < 3; i++)
        assert_true(demo.hist_services[i] > 1250 && demo.hist_services[i] < 1630);
    assert_int_equal(demo.hist_incidents, 0);
    assert_true(demo.hist_gos > 500);
    assert_true((double)demo.hist_gos_err / (double)demo.hist_gos < 0.03);
    /* 20 traces/s from the live start, as without history. */
    assert_true(demo.live_requests_10m > 11400 && demo.live_requests_10m < 12400);
}

/* Support-bot cost per request, minute by minute, against the history's. */
static void test_fleet_demo_cost_spike(void **state)
{
    (void)state;
    double base = demo.hist_sb_cost / (double)demo.hist_sb_requests;
    double in_min = 1e9, out_max = 0;
    for (int m = 0; m < 95; m++) {
        assert_true(demo.sb_requests[m] > 200 && demo.sb_llm[m] > 200);
        double x = demo.sb_cost[m] / (double)demo.sb_requests[m] / base;
        if (m >= 46 && m < 66) {
            in_min = x < in_min ? x : in_min;
            assert_true(demo.sb_gpt4o[m] == demo.sb_llm[m]); /* switched to the expensive model */
        } else {
            out_max = x > out_max ? x : out_max;
            assert_true(demo.sb_gpt4o[m] == 0);
        }
    }
    printf("cost per request vs history ($%.5f): min %.2fx in the spike, max %.2fx outside\n",
           base, in_min, out_max);
    assert_true(in_min > 4.0);
    assert_true(out_max < 1.5);
}

/* support-v13 replaces support-v12 at +50m (by trace start) and is bad until +62m. */
static void test_fleet_demo_prompt_release(void **state)
{
    (void)state;
    double bad = (double)demo.v13_bad_inv / (double)demo.v13_bad_n;
    double late = (double)demo.v13_late_inv / (double)demo.v13_late_n;
    double v12 = (double)demo.v12_inv / (double)demo.v12_n;
    printf("invalid_output: v13 [+50m,+62m) %.4f of %ld, v13 later %.4f of %ld, v12 %.4f of %ld; "
           "[+50m,+52m): %ld v12 / %ld v13\n",
           bad, demo.v13_bad_n, late, demo.v13_late_n, v12, demo.v12_n, demo.v12_after_50,
           demo.v13_after_50);
    assert_int_equal(demo.v13_before, 0);
    assert_int_equal(demo.v12_after_52, 0);
    /* Traces started before +50m finish on v12 within seconds. */
    assert_true(demo.v13_after_50 > 20 * demo.v12_after_50);
    assert_true(demo.v13_bad_n > 5000 && demo.v13_late_n > 5000);
    assert_true(bad > 0.06 && bad < 0.12);
    assert_true(late < 0.02);
    assert_true(v12 < 0.02);
}

/* Phases count from the live start: T0 without history, T0 + HIST with it. */
static void test_fleet_phase_names(void **state)
{
    (void)state;
    for (int with_history = 0; with_history < 2; with_history++) {
        int64_t hist = with_history ? HIST : 0, live = T0 + hist;
        tl_fleet *f = make_h(1, TL_FLEET_SCENARIO_DEMO, hist);
        tl_fleet *h = make_h(1, TL_FLEET_SCENARIO_NONE, hist);
        if (with_history) {
            assert_string_equal(tl_fleet_phase(f, T0), "history");
            assert_string_equal(tl_fleet_phase(f, live - 1), "history");
            assert_string_equal(tl_fleet_phase(h, live - MIN_MS(10)), "history");
        }
        assert_string_equal(tl_fleet_phase(f, live), "healthy");
        assert_string_equal(tl_fleet_phase(f, live + MIN_MS(1)), "healthy");
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(2)), "policy violation"));
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(10)), "tool outage"));
        assert_string_equal(tl_fleet_phase(f, live + MIN_MS(21)), "healthy");
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(30)), "latency spike"));
        assert_string_equal(tl_fleet_phase(f, live + MIN_MS(45)), "prompt injection, then a high-risk tool call");
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(47)), "cost spike"));
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(50)), "prompt release support-v13"));
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(61)), "prompt release support-v13"));
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(62)), "cost spike"));
        assert_non_null(strstr(tl_fleet_phase(f, live + MIN_MS(66) - 1), "cost spike"));
        assert_string_equal(tl_fleet_phase(f, live + MIN_MS(66)), "healthy");
        assert_string_equal(tl_fleet_phase(f, live + MIN_MS(84)), "healthy");
        assert_string_equal(tl_fleet_phase(h, live + MIN_MS(10)), "healthy");
        assert_string_equal(tl_fleet_phase(h, live + MIN_MS(60)), "healthy");
        tl_fleet_destroy(f);
        tl_fleet_destroy(h);
    }
    assert_true(tl_fleet_scenario_length_ms(TL_FLEET_SCENARIO_DEMO) == MIN_MS(95));
    assert_true(tl_fleet_scenario_length_ms(TL_FLEET_SCENARIO_NONE) == 0);
}

/* ---- resources ------------------------------------------------------------------------ */

static void test_fleet_next_allocates_nothing(void **state)
{
    (void)state;
    tl_fleet *f = make_h(77, TL_FLEET_SCENARIO_DEMO, MIN_MS(60)); /* across the switch */
    tl_event ev;
    uint64_t before = tl_alloc_count();
    for (int i = 0; i < 100000; i++)
        tl_fleet_next(f, &ev);
    assert_true(tl_alloc_count() == before);
    tl_fleet_destroy(f);
}

static void test_fleet_new_oom_and_null(void **state)
{
    (void)state;
    tl_fleet_destroy(NULL);
    tl_fleet_opts o = {.seed = 1};
    for (int n = 0; n < 4; n++) {
        tl_alloc_fail_after(n);
        tl_fleet *f = tl_fleet_new(&o);
        tl_alloc_fail_after(-1);
        assert_null(f);
    }
    tl_fleet *f = tl_fleet_new(NULL); /* all defaults */
    assert_non_null(f);
    tl_event ev;
    tl_fleet_next(f, &ev);
    assert_true(has_str(&ev, TL_S_TRACE_ID));
    tl_fleet_destroy(f);
}

/* A rate far above what the pool was sized for still yields ordered events. */
static void test_fleet_overload_keeps_order(void **state)
{
    (void)state;
    tl_fleet_opts o = {.seed = 4, .start_ms = T0, .traces_per_sec = 1e7};
    tl_fleet *f = tl_fleet_new(&o);
    assert_non_null(f);
    tl_event ev;
    int64_t prev = T0;
    for (int i = 0; i < 300000; i++) {
        tl_fleet_next(f, &ev);
        assert_true(ev.ts_ms >= prev);
        prev = ev.ts_ms;
    }
    tl_fleet_destroy(f);
}


/* The demo has exactly one trace where injection_detected is followed by a high-risk tool call
 * (attributes.risk = high), at about +45m on support-bot; the healthy baseline has none. */
static void test_fleet_one_injection_then_risky_tool(void **state)
{
    (void)state;
    for (int scenario = 0; scenario < 2; scenario++) {
        tl_fleet_opts o = {.seed = 9, .start_ms = T0, .traces_per_sec = 20, .scenario = scenario};
        tl_fleet *f = tl_fleet_new(&o);
        tl_event ev;
        int risky = 0;
        int64_t at = 0;
        do {
            tl_fleet_next(f, &ev);
            int found;
            tl_str v = tl_event_attr(&ev, TL_STR_LIT("risk"), &found);
            if (found && tl_str_eq_c(v, "high")) {
                risky++;
                at = ev.ts_ms;
                assert_true(tl_str_eq_c(ev.str[TL_S_SERVICE], "support-bot"));
            }
        } while (ev.ts_ms < T0 + MIN_MS(50));
        assert_int_equal(risky, scenario);
        if (scenario)
            assert_true(at >= T0 + MIN_MS(45) && at < T0 + MIN_MS(46));
        tl_fleet_destroy(f);
    }
}

int main(void)
{
    const struct CMUnitTest basic[] = {
        cmocka_unit_test(test_fleet_same_seed_same_events),
        cmocka_unit_test(test_fleet_different_seed_different_events),
        cmocka_unit_test(test_fleet_timestamps_non_decreasing),
        cmocka_unit_test(test_fleet_required_fields),
        cmocka_unit_test(test_fleet_request_ends_its_trace),
        cmocka_unit_test(test_fleet_arrival_rate),
        cmocka_unit_test(test_fleet_one_service),
        cmocka_unit_test(test_fleet_phase_names),
        cmocka_unit_test(test_fleet_one_injection_then_risky_tool),
        cmocka_unit_test(test_fleet_next_allocates_nothing),
        cmocka_unit_test(test_fleet_new_oom_and_null),
        cmocka_unit_test(test_fleet_overload_keeps_order),
    };
    const struct CMUnitTest scenario[] = {
        cmocka_unit_test(test_fleet_demo_tool_outage),
        cmocka_unit_test(test_fleet_demo_latency_spike),
        cmocka_unit_test(test_fleet_demo_one_policy_violation),
        cmocka_unit_test(test_fleet_history_rate_and_order),
        cmocka_unit_test(test_fleet_demo_cost_spike),
        cmocka_unit_test(test_fleet_demo_prompt_release),
    };
    int failed = cmocka_run_group_tests_name("fleet", basic, NULL, NULL);
    failed += cmocka_run_group_tests_name("fleet_demo", scenario, demo_setup, demo_teardown);
    return failed;
}
