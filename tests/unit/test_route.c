/* tests/unit/test_route.c - routing an event: filter bits, series keys, owners, numbers.
 *
 * A small rule file with two group-by sets and filters on kind/tool, flags, an attribute,
 * a latency comparison and a status set. Events are built by hand; what the router reports
 * is compared with what the rule text says should happen, computed here directly from the
 * event's fields (not through the filter module).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"
#include "alloc.h"
#include "filter.h"
#include "route.h"
#include "rules.h"
#include "series.h"
#include "tl_test.h"

static const char rules_yaml[] =
    "rules:\n"
    "  - name: SearchErrors\n"
    "    filter: kind == \"tool_call\" and tool == \"search\"\n"
    "    group_by: [service, tool]\n"
    "    value: ratio(status in [\"error\", \"timeout\"])\n"
    "    window: 5m\n"
    "    threshold: \"> 10%\"\n"
    "    severity: warning\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{tool}} {{value}}\"\n"
    "  - name: SlowTokens\n"
    "    filter: latency_ms > 1000\n"
    "    group_by: [service, tool]\n"
    "    value: sum(tokens)\n"
    "    window: 5m\n"
    "    threshold: \"> 100000\"\n"
    "    severity: info\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{value}}\"\n"
    "  - name: RiskyRetries\n"
    "    filter: attributes.risk == \"high\"\n"
    "    group_by: [service, attributes.region]\n"
    "    value: count(flags contains \"retry\")\n"
    "    window: 10m\n"
    "    threshold: \"> 5\"\n"
    "    severity: critical\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{value}}\"\n"
    "  - name: LlmLatency\n"
    "    filter: kind == \"llm_call\" and not (flags contains \"cached\")\n"
    "    group_by: [service, attributes.region]\n"
    "    value: p95(latency_ms)\n"
    "    window: 10m\n"
    "    threshold: \"> 2s\"\n"
    "    severity: warning\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{value}}\"\n";

/* What the test needs to know about the compiled program. */
typedef struct fixture {
    tl_program *p;
    uint32_t g_tool, g_region;              /* groups [service, tool], [service, attributes.region] */
    uint32_t f_search, f_slow, f_risk, f_llm; /* rule filters */
    uint32_t p_err, p_retry;                /* ratio/count numerators */
} fixture;

static void fixture_load(fixture *fx)
{
    tl_rules_opts opts = {.lateness_ms = 10000, .renotify_ms = 3600000, .check_runbooks = 0};
    char buf[4096];
    tl_rules_errors errs = {.buf = buf, .cap = sizeof buf};
    buf[0] = '\0';
    fx->p = tl_rules_load_string("route.yaml", rules_yaml, sizeof rules_yaml - 1, &opts, &errs);
    if (!fx->p)
        fail_msg("rules did not compile: %s", buf);
    const tl_program *p = fx->p;
    assert_int_equal(p->nrules, 4);
    assert_int_equal(p->ngroups, 2);
    fx->g_tool = p->rules[0].group;
    fx->g_region = p->rules[2].group;
    assert_int_equal(p->rules[1].group, fx->g_tool);
    assert_int_equal(p->rules[3].group, fx->g_region);
    assert_int_not_equal(fx->g_tool, fx->g_region);
    assert_string_equal(p->groups[fx->g_tool].label_names[0], "service");
    assert_string_equal(p->groups[fx->g_tool].label_names[1], "tool");
    assert_string_equal(p->groups[fx->g_region].label_names[1], "attributes.region");
    fx->f_search = p->rules[0].filter;
    fx->f_slow = p->rules[1].filter;
    fx->f_risk = p->rules[2].filter;
    fx->f_llm = p->rules[3].filter;
    assert_true(p->plans[p->rules[0].count_plan].pred >= 0);
    assert_true(p->plans[p->rules[2].count_plan].pred >= 0);
    fx->p_err = (uint32_t)p->plans[p->rules[0].count_plan].pred;
    fx->p_retry = (uint32_t)p->plans[p->rules[2].count_plan].pred;
    uint32_t all[] = {fx->f_search, fx->f_slow, fx->f_risk, fx->f_llm, fx->p_err, fx->p_retry};
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++)
            assert_int_not_equal(all[i], all[j]);
    assert_int_equal(p->nfilters, 6);
}

/* ---- event building and the expected outcome ------------------------------------------- */

static void ev_attr(tl_event *ev, const char *k, const char *v, uint32_t vlen)
{
    assert_true(ev->n_attrs < TL_EVENT_MAX_ATTRS);
    ev->attr_key[ev->n_attrs] = tl_str_c(k);
    ev->attr_val[ev->n_attrs] = tl_str_make(v, vlen);
    ev->n_attrs++;
}

static void ev_flag(tl_event *ev, const char *f)
{
    assert_true(ev->n_flags < TL_EVENT_MAX_FLAGS);
    ev->flags[ev->n_flags++] = tl_str_c(f);
}

static void ev_str(tl_event *ev, enum tl_str_field f, const char *s) { tl_event_set_str(ev, f, s, (uint32_t)strlen(s)); }

static int str_is(const tl_event *ev, enum tl_str_field f, const char *s)
{
    tl_str v = (ev->str_present & (1u << f)) ? ev->str[f] : (tl_str){"", 0};
    return tl_str_eq_c(v, s);
}

static tl_str attr_of(const tl_event *ev, const char *k)
{
    tl_str v = {"", 0};
    for (uint32_t i = 0; i < ev->n_attrs; i++) /* last one wins */
        if (tl_str_eq_c(ev->attr_key[i], k))
            v = ev->attr_val[i];
    return v;
}

static int has_flag(const tl_event *ev, const char *f)
{
    for (uint32_t i = 0; i < ev->n_flags; i++)
        if (tl_str_eq_c(ev->flags[i], f))
            return 1;
    return 0;
}

typedef struct expect {
    int search, slow, risk, llm, err, retry;
} expect;

static expect expected_bits(const tl_event *ev)
{
    expect x;
    x.search = str_is(ev, TL_S_KIND, "tool_call") && str_is(ev, TL_S_TOOL, "search");
    x.slow = (ev->num_present & (1u << TL_N_LATENCY_MS)) && ev->num[TL_N_LATENCY_MS] > 1000;
    x.risk = tl_str_eq_c(attr_of(ev, "risk"), "high");
    x.llm = str_is(ev, TL_S_KIND, "llm_call") && !has_flag(ev, "cached");
    x.err = str_is(ev, TL_S_STATUS, "error") || str_is(ev, TL_S_STATUS, "timeout");
    x.retry = has_flag(ev, "retry");
    return x;
}

/* One label as it must appear in a key: truncated to TL_ALERT_LABEL_MAX bytes without
 * splitting a UTF-8 sequence (the cut never lands before a continuation byte), 0x1f -> '_'. */
static size_t expected_label(tl_str v, char *out)
{
    uint32_t n = v.n;
    if (n > TL_ALERT_LABEL_MAX) {
        n = TL_ALERT_LABEL_MAX;
        while (n > 0 && ((unsigned char)v.p[n] & 0xC0) == 0x80)
            n--;
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] = v.p[i] == '\x1f' ? '_' : v.p[i];
    return n;
}

static size_t expected_key(const tl_event *ev, int region_group, char *out)
{
    size_t len = 0;
    tl_str svc = (ev->str_present & (1u << TL_S_SERVICE)) ? ev->str[TL_S_SERVICE] : (tl_str){"", 0};
    len += expected_label(svc, out + len);
    out[len++] = '\x1f';
    tl_str second = region_group ? attr_of(ev, "region")
                                 : (ev->str_present & (1u << TL_S_TOOL)) ? ev->str[TL_S_TOOL] : (tl_str){"", 0};
    len += expected_label(second, out + len);
    return len;
}

static const tl_fold_key *key_for_group(const tl_fold *f, uint32_t g)
{
    for (uint32_t i = 0; i < f->nkeys; i++)
        if (f->keys[i].group == g)
            return &f->keys[i];
    return NULL;
}

/* Check one routed event completely against the expectations. */
static void check_routed(const fixture *fx, const tl_event *ev, const tl_fold *f, uint32_t nkeys, uint32_t nowners)
{
    expect x = expected_bits(ev);
    assert_int_equal(tl_filter_bit(f->fbits, fx->f_search), x.search);
    assert_int_equal(tl_filter_bit(f->fbits, fx->f_slow), x.slow);
    assert_int_equal(tl_filter_bit(f->fbits, fx->f_risk), x.risk);
    assert_int_equal(tl_filter_bit(f->fbits, fx->f_llm), x.llm);
    /* a numerator's bit is only evaluated (and so only set) when its plan's filter matched */
    assert_int_equal(tl_filter_bit(f->fbits, fx->p_err), x.err && x.search);
    assert_int_equal(tl_filter_bit(f->fbits, fx->p_retry), x.retry && x.risk);
    assert_int_equal(f->ts, ev->ts_ms);

    /* a group is keyed when a filter of one of its plans matched (numerators do not count) */
    int want_tool = x.search || x.slow, want_region = x.risk || x.llm;
    assert_int_equal(nkeys, f->nkeys);
    assert_int_equal(nkeys, (uint32_t)(want_tool + want_region));
    for (uint32_t i = 1; i < f->nkeys; i++)
        assert_true(f->keys[i - 1].group < f->keys[i].group);
    char want[2 * TL_ALERT_LABEL_MAX + 1];
    for (int rg = 0; rg < 2; rg++) {
        const tl_fold_key *k = key_for_group(f, rg ? fx->g_region : fx->g_tool);
        if (!(rg ? want_region : want_tool)) {
            assert_null(k);
            continue;
        }
        assert_non_null(k);
        size_t wl = expected_key(ev, rg, want);
        if (k->len != wl || memcmp(k->key, want, wl) != 0)
            fail_msg("group %d key '%.*s' (%u bytes), expected '%.*s' (%zu bytes)", rg, (int)k->len, k->key, k->len,
                     (int)wl, want, wl);
        assert_int_equal(k->hash, tl_series_hash(want, wl));
        assert_int_equal(k->owner, tl_series_owner(k->hash, nowners));
        assert_true(k->owner < (nowners ? nowners : 1));
    }

    /* numeric fields the rules aggregate (here latency_ms and tokens, nothing else), with
     * tokens = input + output when either is present */
    for (int fld = 0; fld < TL_N__COUNT; fld++) {
        int present = (ev->num_present >> fld) & 1 && fld == TL_N_LATENCY_MS;
        assert_int_equal((f->num_mask >> fld) & 1, present);
        if (present)
            assert_true(f->num[fld] == ev->num[fld]);
    }
    uint32_t tok = ev->num_present & ((1u << TL_N_INPUT_TOKENS) | (1u << TL_N_OUTPUT_TOKENS));
    assert_int_equal((f->num_mask >> TL_N_TOKENS) & 1, tok != 0);
    if (tok) {
        double sum = ((tok >> TL_N_INPUT_TOKENS) & 1 ? ev->num[TL_N_INPUT_TOKENS] : 0) +
                     ((tok >> TL_N_OUTPUT_TOKENS) & 1 ? ev->num[TL_N_OUTPUT_TOKENS] : 0);
        assert_true(f->num[TL_N_TOKENS] == sum);
    }

    tl_str tid = (ev->str_present & (1u << TL_S_TRACE_ID)) ? ev->str[TL_S_TRACE_ID] : (tl_str){"", 0};
    assert_true(tl_str_eq(f->trace_id, tid));
}

/* ---- random events ---------------------------------------------------------------------- */

static const char *const kinds[] = {"tool_call", "llm_call", "request", "feedback", "Tool_call"};
static const char *const tools[] = {"search", "get_order_status", "searc", "search ", "refund"};
static const char *const statuses[] = {"ok", "error", "timeout", "rate_limited", "Error"};
static const char *const services[] = {"support-bot", "coding-agent", "svc\x1fwith-sep", "", "workflow",
                                       "service-name\x1fx", "a-longer-service\x1fname\x1f-with-seps"};
static const char *const regions[] = {"eu-west-1", "us-east-1", "ap\x1f" "1", ""};
static const char *const risks[] = {"high", "low", "High", "highest"};
static const char *const flagset[] = {"retry", "cached", "policy_violation", "retry_later", "escalation"};
static const char *const traces[] = {"4bf92f3577b34da6a3ce929d0e0e4736", "t-2", "x"};

static char long_a[300];   /* 300 ASCII bytes */
static char long_utf8[300]; /* 'a' * 127, then 'é' ... so a 2-byte sequence straddles byte 128 */

static void init_long_values(void)
{
    memset(long_a, 'a', sizeof long_a - 1);
    long_a[sizeof long_a - 1] = '\0';
    memset(long_utf8, 'a', 127);
    size_t n = 127;
    while (n + 2 < sizeof long_utf8) {
        long_utf8[n++] = (char)0xC3;
        long_utf8[n++] = (char)0xA9;
    }
    long_utf8[n] = '\0';
}

#define PICK(rng, arr) (arr[tl_test_rand(rng) % (sizeof(arr) / sizeof(arr[0]))])

static void random_event(tl_event *ev, tl_test_rng *rng, int64_t ts)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    uint64_t r = tl_test_rand(rng);
    if (r & 1)
        ev_str(ev, TL_S_KIND, PICK(rng, kinds));
    if (r & 2)
        ev_str(ev, TL_S_TOOL, PICK(rng, tools));
    if (r & 4)
        ev_str(ev, TL_S_STATUS, PICK(rng, statuses));
    if (r & 8)
        ev_str(ev, TL_S_SERVICE, (r & 0x300) == 0x300 ? long_utf8 : (r & 0x300) == 0x200 ? long_a : PICK(rng, services));
    if (r & 16)
        ev_str(ev, TL_S_TRACE_ID, PICK(rng, traces));
    if (r & 32)
        tl_event_set_num(ev, TL_N_LATENCY_MS, (double)(tl_test_rand(rng) % 3000));
    if (r & 64)
        tl_event_set_num(ev, TL_N_INPUT_TOKENS, (double)(tl_test_rand(rng) % 5000));
    if (r & 128)
        tl_event_set_num(ev, TL_N_OUTPUT_TOKENS, (double)(tl_test_rand(rng) % 5000));
    if (r & 0x400)
        tl_event_set_num(ev, TL_N_COST_USD, 0.001 * (double)(tl_test_rand(rng) % 1000));
    if (r & 0x800)
        tl_event_set_num(ev, TL_N_SCORE, tl_test_rand01(rng));
    uint32_t nflags = (uint32_t)(tl_test_rand(rng) % 4);
    for (uint32_t i = 0; i < nflags; i++)
        ev_flag(ev, PICK(rng, flagset));
    if (r & 0x1000)
        ev_attr(ev, "other", "high", 4);
    if (r & 0x2000) {
        const char *v = PICK(rng, risks);
        ev_attr(ev, "risk", v, (uint32_t)strlen(v));
    }
    if (r & 0x4000) {
        const char *v = PICK(rng, regions);
        ev_attr(ev, "region", v, (uint32_t)strlen(v));
    }
    if (r & 0x8000) { /* a duplicate key: the last one wins */
        const char *v = PICK(rng, risks);
        ev_attr(ev, "risk", v, (uint32_t)strlen(v));
    }
}

/* Random events: filter bits, keyed groups, key bytes, hashes, owners, numbers. The same
 * event routed again, and by a second router, gives the same keys and owners. */
static void test_route_random_events(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    init_long_values();
    tl_router r, r2;
    assert_int_equal(tl_router_init(&r, fx.p, 4), 0);
    assert_int_equal(tl_router_init(&r2, fx.p, 4), 0);
    tl_test_rng rng = {0xabcdefull};
    static tl_event ev;
    uint32_t owners_seen[4] = {0};
    uint32_t keyed[2] = {0};
    for (int i = 0; i < 20000; i++) {
        random_event(&ev, &rng, 1700000000000LL + i);
        tl_fold f;
        uint32_t n = tl_router_route(&r, &ev, &f);
        check_routed(&fx, &ev, &f, n, 4);
        tl_fold_key saved[2];
        char keycopy[2][2 * TL_ALERT_LABEL_MAX + 1];
        for (uint32_t k = 0; k < n; k++) {
            saved[k] = f.keys[k];
            memcpy(keycopy[k], f.keys[k].key, f.keys[k].len);
            owners_seen[f.keys[k].owner]++;
            keyed[f.keys[k].group == fx.g_region]++;
        }
        tl_fold f2;
        assert_int_equal(tl_router_route(&r2, &ev, &f2), n);
        for (uint32_t k = 0; k < n; k++) {
            assert_int_equal(f2.keys[k].group, saved[k].group);
            assert_int_equal(f2.keys[k].hash, saved[k].hash);
            assert_int_equal(f2.keys[k].owner, saved[k].owner);
            assert_int_equal(f2.keys[k].len, saved[k].len);
            assert_memory_equal(f2.keys[k].key, keycopy[k], saved[k].len);
        }
    }
    for (int o = 0; o < 4; o++)
        assert_true(owners_seen[o] > 100);
    assert_true(keyed[0] > 1000 && keyed[1] > 1000);
    tl_router_fini(&r);
    tl_router_fini(&r2);
    tl_program_destroy(fx.p);
}

/* Hand-built events with exact expectations. */
static void test_route_filters_and_keys(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    tl_router r;
    assert_int_equal(tl_router_init(&r, fx.p, 1), 0);
    tl_event ev;
    tl_fold f;

    /* a failing search tool call: group [service, tool] only */
    tl_event_reset(&ev);
    ev.ts_ms = 1000;
    ev_str(&ev, TL_S_KIND, "tool_call");
    ev_str(&ev, TL_S_TOOL, "search");
    ev_str(&ev, TL_S_STATUS, "timeout");
    ev_str(&ev, TL_S_SERVICE, "support-bot");
    assert_int_equal(tl_router_route(&r, &ev, &f), 1);
    assert_true(tl_filter_bit(f.fbits, fx.f_search) && tl_filter_bit(f.fbits, fx.p_err));
    assert_false(tl_filter_bit(f.fbits, fx.f_slow) || tl_filter_bit(f.fbits, fx.f_risk) ||
                 tl_filter_bit(f.fbits, fx.f_llm) || tl_filter_bit(f.fbits, fx.p_retry));
    assert_int_equal(f.keys[0].group, fx.g_tool);
    assert_int_equal(f.keys[0].len, strlen("support-bot\x1fsearch"));
    assert_memory_equal(f.keys[0].key, "support-bot\x1fsearch", f.keys[0].len);
    assert_int_equal(f.keys[0].owner, 0);
    assert_int_equal(f.num_mask, 0);
    assert_int_equal(f.trace_id.n, 0);

    /* only a numerator matches (retry flag, no risk): nothing is keyed, and the numerator is
     * not even evaluated, since no plan that counts it matched */
    tl_event_reset(&ev);
    ev_flag(&ev, "retry");
    assert_int_equal(tl_router_route(&r, &ev, &f), 0);
    assert_false(tl_filter_bit(f.fbits, fx.p_retry));
    assert_int_equal(f.nkeys, 0);

    /* high risk, retry, slow, with tokens: both groups; missing labels are empty */
    tl_event_reset(&ev);
    ev_attr(&ev, "risk", "high", 4);
    ev_flag(&ev, "escalation");
    ev_flag(&ev, "retry");
    tl_event_set_num(&ev, TL_N_LATENCY_MS, 1000.5);
    tl_event_set_num(&ev, TL_N_OUTPUT_TOKENS, 12);
    ev_str(&ev, TL_S_TRACE_ID, "abc");
    assert_int_equal(tl_router_route(&r, &ev, &f), 2);
    assert_true(tl_filter_bit(f.fbits, fx.f_risk) && tl_filter_bit(f.fbits, fx.p_retry) &&
                tl_filter_bit(f.fbits, fx.f_slow));
    const tl_fold_key *kt = key_for_group(&f, fx.g_tool), *kr = key_for_group(&f, fx.g_region);
    assert_non_null(kt);
    assert_non_null(kr);
    assert_int_equal(kt->len, 1);
    assert_memory_equal(kt->key, "\x1f", 1);
    assert_int_equal(kr->len, 1);
    assert_int_equal(kt->hash, kr->hash); /* same bytes, same hash, though different groups */
    assert_int_equal(f.num_mask, (1u << TL_N_LATENCY_MS) | (1u << TL_N_TOKENS)); /* only what rules aggregate */
    assert_true(f.num[TL_N_TOKENS] == 12);
    assert_true(tl_str_eq_c(f.trace_id, "abc"));

    /* exactly 1000 is not > 1000; cached llm calls are excluded */
    tl_event_reset(&ev);
    ev_str(&ev, TL_S_KIND, "llm_call");
    ev_flag(&ev, "cached");
    tl_event_set_num(&ev, TL_N_LATENCY_MS, 1000);
    tl_event_set_num(&ev, TL_N_INPUT_TOKENS, 7);
    tl_event_set_num(&ev, TL_N_OUTPUT_TOKENS, 5);
    assert_int_equal(tl_router_route(&r, &ev, &f), 0);
    assert_false(tl_filter_bit(f.fbits, fx.f_slow) || tl_filter_bit(f.fbits, fx.f_llm));
    assert_true(f.num[TL_N_TOKENS] == 12);
    assert_true(f.num_mask & (1u << TL_N_TOKENS));

    /* an uncached llm call: group [service, attributes.region], 0x1f in values becomes '_' */
    tl_event_reset(&ev);
    ev_str(&ev, TL_S_KIND, "llm_call");
    ev_str(&ev, TL_S_SERVICE, "a\x1f" "b");
    ev_attr(&ev, "region", "eu\x1f", 3);
    assert_int_equal(tl_router_route(&r, &ev, &f), 1);
    assert_int_equal(f.keys[0].group, fx.g_region);
    assert_int_equal(f.keys[0].len, 7);
    assert_memory_equal(f.keys[0].key, "a_b\x1f" "eu_", 7);

    /* the last duplicate attribute wins */
    tl_event_reset(&ev);
    ev_attr(&ev, "risk", "high", 4);
    ev_attr(&ev, "risk", "low", 3);
    assert_int_equal(tl_router_route(&r, &ev, &f), 0);
    assert_false(tl_filter_bit(f.fbits, fx.f_risk));

    tl_router_fini(&r);
    tl_program_destroy(fx.p);
}

/* Label values longer than TL_ALERT_LABEL_MAX are cut at the limit, or before it when the
 * limit falls inside a UTF-8 sequence; a value of exactly the limit is kept whole. */
static void test_route_label_truncation(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    tl_router r;
    assert_int_equal(tl_router_init(&r, fx.p, 1), 0);
    static char v[400];
    static const struct {
        size_t prefix;    /* ASCII bytes before the multibyte run */
        const char *mb;   /* repeated multibyte sequence ("" = ASCII only) */
        size_t total;     /* at most this many bytes in the value (whole sequences only) */
        size_t want;      /* bytes kept */
    } cases[] = {
        {TL_ALERT_LABEL_MAX, "", TL_ALERT_LABEL_MAX, TL_ALERT_LABEL_MAX},
        {300, "", 300, TL_ALERT_LABEL_MAX},
        {TL_ALERT_LABEL_MAX - 2, "\xC3\xA9", TL_ALERT_LABEL_MAX, TL_ALERT_LABEL_MAX},         /* é ends at 128 */
        {TL_ALERT_LABEL_MAX - 1, "\xC3\xA9", TL_ALERT_LABEL_MAX + 1, TL_ALERT_LABEL_MAX - 1}, /* é spans 128 */
        {TL_ALERT_LABEL_MAX - 1, "\xE2\x82\xAC", 200, TL_ALERT_LABEL_MAX - 1},                /* € at 127..129 */
        {TL_ALERT_LABEL_MAX - 2, "\xE2\x82\xAC", 200, TL_ALERT_LABEL_MAX - 2},                /* € at 126..128 */
        {TL_ALERT_LABEL_MAX - 3, "\xE2\x82\xAC", 200, TL_ALERT_LABEL_MAX},                    /* € ends at 128 */
        {TL_ALERT_LABEL_MAX - 1, "\xF0\x9F\x98\x80", 200, TL_ALERT_LABEL_MAX - 1},            /* 4-byte emoji */
        {TL_ALERT_LABEL_MAX - 3, "\xF0\x9F\x98\x80", 200, TL_ALERT_LABEL_MAX - 3},
        {0, "\xF0\x9F\x98\x80", 200, TL_ALERT_LABEL_MAX}, /* 32 emoji fit exactly */
        {0, "\xE2\x82\xAC", 300, 126},                     /* 42 euro signs */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(v, 'x', cases[c].prefix);
        size_t n = cases[c].prefix, ml = strlen(cases[c].mb);
        while (ml && n + ml <= cases[c].total) {
            memcpy(v + n, cases[c].mb, ml);
            n += ml;
        }
        assert_true(n > cases[c].total - (ml ? ml : 1) && n >= cases[c].want);
        for (int which = 0; which < 2; which++) {
            tl_event ev;
            tl_event_reset(&ev);
            ev_str(&ev, TL_S_KIND, "tool_call");
            ev_str(&ev, TL_S_TOOL, "search");
            if (which == 0)
                tl_event_set_str(&ev, TL_S_SERVICE, v, (uint32_t)n);
            else
                tl_event_set_str(&ev, TL_S_TOOL, v, (uint32_t)n); /* tool != "search": slow filter instead */
            if (which == 1)
                tl_event_set_num(&ev, TL_N_LATENCY_MS, 5000);
            tl_fold f;
            assert_int_equal(tl_router_route(&r, &ev, &f), 1);
            const tl_fold_key *k = &f.keys[0];
            size_t want_len = cases[c].want + 1 + (which == 0 ? strlen("search") : 0);
            if (k->len != want_len)
                fail_msg("case %zu label %d: key of %u bytes, expected %zu", c, which, k->len, want_len);
            if (which == 0) {
                assert_memory_equal(k->key, v, cases[c].want);
                assert_memory_equal(k->key + cases[c].want, "\x1fsearch", 7);
            } else {
                assert_int_equal(k->key[0], '\x1f');
                assert_memory_equal(k->key + 1, v, cases[c].want);
            }
        }
    }
    tl_router_fini(&r);
    tl_program_destroy(fx.p);
}

/* Owners: a function of the key hash only, in range, and 0 with one owner. */
static void test_route_owner_stable(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    static const uint32_t nowners[] = {1, 2, 3, 7, 16};
    tl_router rs[5];
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(tl_router_init(&rs[i], fx.p, nowners[i]), 0);
    tl_router zero;
    assert_int_equal(tl_router_init(&zero, fx.p, 0), 0); /* 0 owners means 1 */
    char svc[32];
    for (int i = 0; i < 2000; i++) {
        tl_event ev;
        tl_event_reset(&ev);
        snprintf(svc, sizeof svc, "svc-%d", i);
        ev_str(&ev, TL_S_SERVICE, svc);
        ev_str(&ev, TL_S_KIND, "tool_call");
        ev_str(&ev, TL_S_TOOL, "search");
        uint64_t hash = 0;
        for (size_t k = 0; k < 5; k++) {
            tl_fold f;
            assert_int_equal(tl_router_route(&rs[k], &ev, &f), 1);
            if (k == 0)
                hash = f.keys[0].hash;
            assert_int_equal(f.keys[0].hash, hash);
            assert_int_equal(f.keys[0].owner, tl_series_owner(hash, nowners[k]));
            assert_true(f.keys[0].owner < nowners[k]);
        }
        tl_fold f;
        assert_int_equal(tl_router_route(&zero, &ev, &f), 1);
        assert_int_equal(f.keys[0].owner, 0);
    }
    for (size_t i = 0; i < 5; i++)
        tl_router_fini(&rs[i]);
    tl_router_fini(&zero);
    tl_program_destroy(fx.p);
}

/* The per-event path allocates nothing: 10k routed events, allocation count unchanged. */
static void test_route_no_allocation(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    init_long_values();
    tl_router r;
    assert_int_equal(tl_router_init(&r, fx.p, 8), 0);
    const size_t n = 1000, rounds = 10; /* 10k routings of 1000 distinct events */
    tl_event *evs = malloc(n * sizeof *evs);
    assert_non_null(evs);
    tl_test_rng rng = {4242};
    for (size_t i = 0; i < n; i++)
        random_event(&evs[i], &rng, (int64_t)i);
    uint64_t keys = 0;
    uint64_t before = tl_alloc_count();
    for (size_t k = 0; k < rounds; k++) {
        for (size_t i = 0; i < n; i++) {
            tl_fold f;
            keys += tl_router_route(&r, &evs[i], &f);
        }
    }
    uint64_t after = tl_alloc_count();
    assert_int_equal(after, before);
    assert_true(keys > n * rounds / 4);
    free(evs);
    tl_router_fini(&r);
    tl_router_fini(&r); /* fini twice is harmless */
    tl_program_destroy(fx.p);
}

/* The filter module walks only the filters that can be true for the event's kind (a
 * `kind == "x"` conjunct of the AND chain). Filters where kind appears otherwise (under or,
 * under not, compared with "" which an absent kind reads as) must still be evaluated. */
static void test_route_kind_dispatch(void **state)
{
    (void)state;
    static const char *const filters[] = {
        "kind == \"a\"",
        "tool == \"x\" and kind == \"b\"",
        "kind == \"a\" or tool == \"x\"",
        "not (kind == \"a\")",
        "kind == \"\"",
        "tool == \"x\"",
        "kind == \"b\" and kind == \"a\"",
    };
    enum { NF = sizeof filters / sizeof filters[0] };
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof yaml, "rules:\n");
    for (int i = 0; i < NF; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n,
                              "  - name: F%d\n    filter: '%s'\n    group_by: [service]\n    value: count()\n"
                              "    window: 1m\n    threshold: \"> %d\"\n    severity: info\n    owner: t\n"
                              "    runbook: r.md\n    summary: s\n",
                              i, filters[i], 1000 + i);
    tl_rules_opts opts = {.lateness_ms = 10000, .renotify_ms = 3600000, .check_runbooks = 0};
    char buf[4096] = "";
    tl_rules_errors errs = {.buf = buf, .cap = sizeof buf};
    tl_program *p = tl_rules_load_string("kinds.yaml", yaml, n, &opts, &errs);
    if (!p)
        fail_msg("rules did not compile: %s", buf);
    tl_filter_ctx fc;
    assert_int_equal(tl_filter_ctx_init(&fc, p), 0);
    static const char *const dkinds[] = {NULL, "a", "b", "c", ""};
    static const char *const dtools[] = {NULL, "x", "y"};
    for (size_t k = 0; k < 5; k++)
        for (size_t t = 0; t < 3; t++) {
            tl_event ev;
            tl_event_reset(&ev);
            if (dkinds[k])
                ev_str(&ev, TL_S_KIND, dkinds[k]);
            if (dtools[t])
                ev_str(&ev, TL_S_TOOL, dtools[t]);
            const char *kv = dkinds[k] ? dkinds[k] : "";
            int ka = strcmp(kv, "a") == 0, kb = strcmp(kv, "b") == 0, tx = dtools[t] && strcmp(dtools[t], "x") == 0;
            int want[NF] = {ka, tx && kb, ka || tx, !ka, kv[0] == '\0', tx, 0};
            tl_filter_eval(&fc, &ev);
            for (int i = 0; i < NF; i++) {
                uint32_t f = p->rules[i].filter;
                if (tl_filter_bit(fc.bits, f) != want[i])
                    fail_msg("filter '%s', kind %s, tool %s: got %d", filters[i], dkinds[k] ? dkinds[k] : "(absent)",
                             dtools[t] ? dtools[t] : "(absent)", tl_filter_bit(fc.bits, f));
            }
        }
    tl_filter_ctx_fini(&fc);
    tl_program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_random_events),
        cmocka_unit_test(test_route_filters_and_keys),
        cmocka_unit_test(test_route_label_truncation),
        cmocka_unit_test(test_route_owner_stable),
        cmocka_unit_test(test_route_no_allocation),
        cmocka_unit_test(test_route_kind_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
