/* tests/unit/test_rules.c - rule files to a compiled program: the shipped pack, sharing of
 * atoms/filters/plans between rules, units, series record layout, and one test per class of
 * author error asserting the exact `file:line:col:` and a helpful message.
 *
 * Rules are written inline and loaded with tl_rules_load_string() under the name "t.yaml".
 * Most rules use the same eight-line shape (see RULE below), so positions are easy to check:
 *   line n+0  "  - name: X"           name value at col 11, the rule mapping at col 5
 *   line n+1  "    value: V"          col 12
 *   line n+2  "    window: W"         col 13
 *   line n+3  "    threshold: T"      col 16 (col 17 inside quotes)
 *   line n+4  "    severity: warning" col 15
 *   line n+5  "    owner: team"       col 12
 *   line n+6  "    runbook: rb.md"    col 14
 *   line n+7  "    summary: \"s\""    col 14 (col 15 inside quotes)
 * followed by any extra lines (filter: value at col 13, group_by: at col 15, slot: col 11).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "inst.h"
#include "program.h"
#include "rules.h"
#include "tl_test.h"

#define assert_contains(hay, needle)                                                           \
    do {                                                                                       \
        if (!strstr((hay), (needle)))                                                          \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                           \
    } while (0)

#define TAIL "    severity: warning\n    owner: team\n    runbook: rb.md\n    summary: \"s\"\n"
#define RULE(name, value, window, thr) \
    "  - name: " name "\n    value: " value "\n    window: " window "\n    threshold: " thr "\n" TAIL

static const tl_rules_opts opts0 = {.lateness_ms = 0, .renotify_ms = 0, .check_runbooks = 0};

static char errbuf[16384];

static tl_program *load_with(const char *name, const char *yaml, const tl_rules_opts *o, tl_rules_errors *errs)
{
    tl_alloc_fail_after(-1); /* in case a failed OOM test left it armed */
    errbuf[0] = '\0';
    *errs = (tl_rules_errors){.buf = errbuf, .cap = sizeof errbuf};
    return tl_rules_load_string(name, yaml, strlen(yaml), o, errs);
}

static tl_program *load_ok(const char *yaml)
{
    tl_rules_errors errs;
    tl_program *p = load_with("t.yaml", yaml, &opts0, &errs);
    if (!p)
        fail_msg("load failed (%d errors):\n%s\nfor:\n%s", errs.count, errbuf, yaml);
    assert_int_equal(errs.count, 0);
    return p;
}

/* Load text that must fail with want errors (-1: any number); returns the messages. */
static const char *load_err(const char *yaml, int want)
{
    tl_rules_errors errs;
    tl_program *p = load_with("t.yaml", yaml, &opts0, &errs);
    if (p) {
        tl_program_destroy(p);
        fail_msg("expected errors for:\n%s", yaml);
    }
    if (errs.count < 1)
        fail_msg("NULL program but no error counted");
    if (want >= 0 && errs.count != want)
        fail_msg("%d errors, expected %d:\n%s", errs.count, want, errbuf);
    return errbuf;
}

/* Some line of errs starts with `prefix` and contains `msg`. */
static void assert_error(const char *errs, const char *prefix, const char *msg)
{
    const char *line = errs;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= strlen(prefix) && strncmp(line, prefix, strlen(prefix)) == 0) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%.*s", (int)len, line);
            if (strstr(tmp, msg))
                return;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    fail_msg("no error '%s...%s' in:\n%s", prefix, msg, errs);
}

/* One rule in the standard shape (lines 2..9) plus extra lines; must fail with one error. */
static void expect_one(const char *name, const char *value, const char *window, const char *thr, const char *extra,
                       const char *prefix, const char *msg)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "rules:\n  - name: %s\n    value: %s\n    window: %s\n    threshold: %s\n" TAIL "%s", name, value,
             window, thr, extra);
    const char *errs = load_err(yaml, 1);
    assert_error(errs, prefix, msg);
}

static const tl_rule *find_rule(const tl_program *p, const char *name)
{
    for (uint32_t i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].name, name) == 0)
            return &p->rules[i];
    fail_msg("no rule '%s'", name);
    return NULL;
}

/* ---- layout invariants ---------------------------------------------------------------- */

/* Plans read over the rule's current window (offsets and baselines read roll-ups instead). */
static void collect_leaf_plans(const tl_vnode *v, uint32_t *plans, size_t *n)
{
    if (!v || v->op == TL_V_OFFSET || v->op == TL_V_BASELINE)
        return;
    if (v->op == TL_V_AGG)
        plans[(*n)++] = v->plan;
    collect_leaf_plans(v->a, plans, n);
    collect_leaf_plans(v->b, plans, n);
}

static void check_layout(const tl_program *p)
{
    assert_int_equal(p->filter_words, (p->nfilters + 63) / 64);
    uint32_t *seen = calloc(p->nplans + 1, sizeof *seen);
    assert_non_null(seen);
    for (uint32_t g = 0; g < p->ngroups; g++) {
        const tl_group *grp = &p->groups[g];
        uint32_t prev_end = 64; /* series header */
        for (uint32_t i = 0; i < grp->nplans; i++) {
            const tl_plan *pl = &p->plans[grp->plans[i]];
            assert_int_equal(pl->group, g);
            seen[grp->plans[i]]++;
            if (pl->offset % 8)
                fail_msg("group %u plan %u offset %u not 8-aligned", g, grp->plans[i], pl->offset);
            if (pl->offset < prev_end)
                fail_msg("group %u plan %u at %u overlaps the previous one (ends %u)", g, grp->plans[i], pl->offset,
                         prev_end);
            assert_true(pl->size > 0);
            prev_end = pl->offset + pl->size;
            if (prev_end > grp->record_size)
                fail_msg("group %u plan %u ends at %u past record_size %u", g, grp->plans[i], prev_end,
                         grp->record_size);
            assert_true(pl->width_ms >= 100);
            assert_true(pl->nslots >= 1);
        }
        assert_true(grp->inst_offset >= prev_end);
        assert_int_equal(grp->inst_offset % 8, 0);
        assert_true(grp->inst_offset + grp->nrules * sizeof(tl_inst) <= grp->record_size);
        for (uint32_t i = 0; i < grp->nrules; i++) {
            const tl_rule *r = &p->rules[grp->rules[i]];
            assert_int_equal(r->group, g);
            assert_int_equal(r->index_in_group, i);
        }
    }
    for (uint32_t i = 0; i < p->nplans; i++)
        if (seen[i] != 1)
            fail_msg("plan %u listed in %u groups", i, seen[i]);
    free(seen);
    for (uint32_t i = 0; i < p->nrules; i++) {
        const tl_rule *r = &p->rules[i];
        assert_true(r->group < p->ngroups);
        assert_true(r->filter < p->nfilters);
        assert_true(r->count_plan < p->nplans);
        assert_int_equal(r->window_ms, (int64_t)r->window_slots * r->width_ms);
        uint32_t plans[64];
        size_t n = 0;
        collect_leaf_plans(r->value, plans, &n);
        assert_true(n >= 1);
        for (size_t k = 0; k < n; k++) {
            const tl_plan *pl = &p->plans[plans[k]];
            assert_int_equal(pl->group, r->group);
            assert_int_equal(pl->filter, r->filter);
            assert_int_equal(pl->width_ms, r->width_ms);
            /* the ring covers the window plus the allowed lateness */
            int64_t late = (p->lateness_ms + pl->width_ms - 1) / pl->width_ms;
            if ((int64_t)pl->nslots < (int64_t)r->window_slots + late)
                fail_msg("rule %s: plan %u has %u slots, window needs %u + %lld late", r->name, plans[k],
                         pl->nslots, r->window_slots, (long long)late);
        }
    }
}

/* ---- the shipped pack ------------------------------------------------------------------- */

static tl_program *load_pack(int64_t lateness_ms)
{
    const char *paths[] = {"rules"};
    tl_rules_opts o = {.lateness_ms = lateness_ms, .renotify_ms = 3600000, .check_runbooks = 1};
    tl_rules_errors errs = {.buf = errbuf, .cap = sizeof errbuf};
    errbuf[0] = '\0';
    tl_program *p = tl_rules_load(paths, 1, &o, &errs);
    if (!p)
        fail_msg("rules/ does not compile (%d errors):\n%s", errs.count, errbuf);
    assert_int_equal(errs.count, 0);
    return p;
}

static void test_rules_shipped_pack_compiles(void **state)
{
    (void)state;
    tl_program *p = load_pack(60000);
    assert_int_equal(p->nrules, 13);
    assert_int_equal(p->lateness_ms, 60000);
    for (uint32_t i = 0; i < p->nrules; i++) {
        assert_string_equal(p->rules[i].file, "rules/support-agent.yaml");
        assert_non_null(p->rules[i].summary);
        assert_non_null(p->rules[i].severity);
    }

    const tl_rule *r = find_rule(p, "PolicyViolation");
    assert_int_equal(r->window_ms, 30 * 60000);
    assert_int_equal(r->op, TL_OP_GT);
    assert_true(r->threshold == 0);
    assert_int_equal(r->unit, TL_UNIT_RATIO);
    assert_int_equal(r->min_events, 1);
    assert_int_equal(r->for_ms, 0);
    assert_int_equal(r->renotify_ms, 3600000);
    assert_int_equal(r->value->op, TL_V_AGG);
    assert_int_equal(r->value->agg, TL_AGG_RATIO);
    assert_string_equal(p->filters[r->filter].canon, "true"); /* no filter: every event */
    assert_int_equal(p->groups[r->group].nlabels, 1);
    assert_string_equal(p->groups[r->group].label_names[0], "service");
    assert_string_equal(r->severity, "critical");
    assert_string_equal(r->owner, "trust-and-safety");
    assert_string_equal(r->metric, "ratio(flags contains \"policy_violation\")");

    r = find_rule(p, "ToolErrorRateGetOrderStatus");
    assert_int_equal(r->window_ms, 5 * 60000);
    assert_int_equal(r->for_ms, 10 * 60000);
    assert_int_equal(r->op, TL_OP_GT);
    assert_true(r->threshold > 0.1 - 1e-12 && r->threshold < 0.1 + 1e-12);
    assert_int_equal(r->unit, TL_UNIT_RATIO);
    assert_int_equal(r->min_events, 20);
    assert_int_equal(r->renotify_ms, 3600000); /* the default from opts */
    assert_int_equal(p->groups[r->group].nlabels, 2);
    assert_string_equal(p->groups[r->group].label_names[1], "tool");
    assert_string_equal(p->filters[r->filter].canon, "(kind == \"tool_call\" and tool == \"get_order_status\")");
    assert_string_equal(r->severity, "critical");

    r = find_rule(p, "LatencyP95High");
    assert_int_equal(r->window_ms, 5 * 60000);
    assert_int_equal(r->for_ms, 15 * 60000);
    assert_int_equal(r->op, TL_OP_GT);
    assert_true(r->threshold == 15000);
    assert_int_equal(r->unit, TL_UNIT_MS);
    assert_int_equal(r->min_events, 20);
    assert_int_equal(r->value->op, TL_V_AGG);
    assert_int_equal(r->value->agg, TL_AGG_QUANTILE);
    assert_true(r->value->q > 0.95 - 1e-12 && r->value->q < 0.95 + 1e-12);
    assert_int_equal(p->plans[r->value->plan].kind, TL_PLAN_SKETCH);
    assert_int_equal(p->plans[r->value->plan].field, TL_N_LATENCY_MS);

    r = find_rule(p, "CostPerRequestHigh");
    assert_int_equal(r->unit, TL_UNIT_USD);
    assert_int_equal(r->value->op, TL_V_DIV);

    /* kind == "request" is shared by EscalationRate, LatencyP95High and CostPerRequestHigh's
     * count(): one atom */
    uint32_t n_request = 0;
    for (uint32_t i = 0; i < p->natoms; i++)
        if (p->atoms[i].op == TL_A_STR_EQ && !p->atoms[i].ref.is_attr && p->atoms[i].ref.field == TL_S_KIND &&
            p->atoms[i].s.n == 7 && memcmp(p->atoms[i].s.p, "request", 7) == 0)
            n_request++;
    assert_int_equal(n_request, 1);

    check_layout(p);
    tl_program_destroy(p);
}

static void test_rules_shipped_pack_file_and_dir_agree(void **state)
{
    (void)state;
    const char *paths[] = {"rules/support-agent.yaml"};
    tl_rules_errors errs = {.buf = errbuf, .cap = sizeof errbuf};
    tl_rules_opts o = {.check_runbooks = 1};
    tl_program *a = tl_rules_load(paths, 1, &o, &errs);
    if (!a)
        fail_msg("%s", errbuf);
    tl_program *b = load_pack(0);
    assert_int_equal(a->nrules, b->nrules);
    assert_int_equal(a->natoms, b->natoms);
    assert_int_equal(a->nfilters, b->nfilters);
    assert_int_equal(a->nplans, b->nplans);
    assert_int_equal(a->ngroups, b->ngroups);
    tl_program_destroy(a);
    tl_program_destroy(b);

    /* the same file from memory: the runbooks resolve against the name's directory */
    size_t len = 0;
    char *text = tl_test_read_file("rules/support-agent.yaml", &len);
    assert_non_null(text);
    errbuf[0] = '\0';
    errs = (tl_rules_errors){.buf = errbuf, .cap = sizeof errbuf};
    tl_program *c = tl_rules_load_string("rules/support-agent.yaml", text, len, &o, &errs);
    if (!c)
        fail_msg("%s", errbuf);
    assert_int_equal(c->nrules, 13);
    tl_program_destroy(c);
    /* under another name, the relative runbooks are not found */
    errs = (tl_rules_errors){.buf = errbuf, .cap = sizeof errbuf};
    assert_null(tl_rules_load_string("elsewhere/x.yaml", text, len, &o, &errs));
    assert_int_equal(errs.count, 13);
    assert_contains(errbuf, "runbook 'runbooks/policy-violation.md' does not exist");
    free(text);
}

static void test_rules_missing_path_reported(void **state)
{
    (void)state;
    const char *paths[] = {"rules/does-not-exist.yaml"};
    tl_rules_errors errs = {.buf = errbuf, .cap = sizeof errbuf};
    errbuf[0] = '\0';
    assert_null(tl_rules_load(paths, 1, &opts0, &errs));
    assert_int_equal(errs.count, 1);
    assert_contains(errbuf, "rules/does-not-exist.yaml");
}

/* ---- sharing ------------------------------------------------------------------------------ */

static void test_rules_plans_shared_across_thresholds(void **state)
{
    (void)state;
    tl_program *p = load_ok("rules:\n"
                            RULE("Warn", "ratio(status != \"ok\")", "5m", "\"> 10%\"")
                            "    filter: kind == \"tool_call\"\n    group_by: [service]\n"
                            RULE("Page", "ratio(status != 'ok')", "5m", "\"> 50%\"")
                            "    filter: kind=='tool_call'\n    group_by: [service]\n    for: 5m\n");
    assert_int_equal(p->nrules, 2);
    assert_int_equal(p->nplans, 1);
    assert_int_equal(p->ngroups, 1);
    assert_int_equal(p->nfilters, 2); /* the filter and the ratio's condition */
    assert_int_equal(p->natoms, 2);
    assert_int_equal(p->rules[0].value->plan, p->rules[1].value->plan);
    assert_int_equal(p->rules[0].filter, p->rules[1].filter);
    assert_true(p->rules[0].threshold < p->rules[1].threshold);
    assert_int_equal(p->plans[0].kind, TL_PLAN_COUNTER);
    assert_true(p->plans[0].pred >= 0);
    assert_int_equal(p->groups[0].nplans, 1);
    assert_int_equal(p->groups[0].nrules, 2);
    check_layout(p);
    tl_program_destroy(p);

    /* same slot, different windows: one plan whose ring covers the longer window */
    p = load_ok("rules:\n"
                RULE("Short", "count()", "1m", "\"> 10\"") "    slot: 10s\n"
                RULE("Long", "count()", "10m", "\"> 10\"") "    slot: 10s\n");
    assert_int_equal(p->nplans, 1);
    assert_int_equal(p->rules[0].window_slots, 6);
    assert_int_equal(p->rules[1].window_slots, 60);
    assert_true(p->plans[0].nslots >= 60);
    check_layout(p);
    tl_program_destroy(p);
}

static void test_rules_plans_not_shared_when_they_differ(void **state)
{
    (void)state;
    /* different filters */
    tl_program *p = load_ok("rules:\n"
                            RULE("A", "count()", "5m", "\"> 10\"") "    filter: kind == \"tool_call\"\n"
                            RULE("B", "count()", "5m", "\"> 10\"") "    filter: kind == \"llm_call\"\n");
    assert_int_equal(p->nplans, 2);
    assert_int_equal(p->nfilters, 2);
    assert_true(p->rules[0].value->plan != p->rules[1].value->plan);
    check_layout(p);
    tl_program_destroy(p);

    /* different group_by: different groups, so different plans */
    p = load_ok("rules:\n"
                RULE("A", "count()", "5m", "\"> 10\"") "    group_by: [service]\n"
                RULE("B", "count()", "5m", "\"> 10\"") "    group_by: [service, tool]\n");
    assert_int_equal(p->ngroups, 2);
    assert_int_equal(p->nplans, 2);
    check_layout(p);
    tl_program_destroy(p);

    /* different slot widths (auto slot of 5m and 1h differ) */
    p = load_ok("rules:\n"
                RULE("A", "count()", "5m", "\"> 10\"")
                RULE("B", "count()", "1h", "\"> 10\""));
    assert_int_equal(p->nplans, 2);
    assert_true(p->rules[0].width_ms != p->rules[1].width_ms);
    tl_program_destroy(p);

    /* different aggregates over one field: moments vs sketch; count() vs ratio() */
    p = load_ok("rules:\n"
                RULE("A", "avg(latency_ms)", "5m", "\"> 10\"")
                RULE("B", "p95(latency_ms)", "5m", "\"> 10\"")
                RULE("C", "p99(latency_ms)", "5m", "\"> 10\"")
                RULE("D", "max(latency_ms)", "5m", "\"> 10\"")
                RULE("E", "avg(cost_usd)", "5m", "\"> 10\""));
    assert_int_equal(p->nplans, 3); /* latency moments (A, D), latency sketch (B, C), cost moments */
    assert_int_equal(p->rules[0].value->plan, p->rules[3].value->plan);
    assert_int_equal(p->rules[1].value->plan, p->rules[2].value->plan);
    assert_true(p->rules[1].value->q < p->rules[2].value->q);
    check_layout(p);
    tl_program_destroy(p);
}

static void test_rules_atoms_deduplicated_across_filters(void **state)
{
    (void)state;
    tl_program *p = load_ok("rules:\n"
                            RULE("A", "count()", "5m", "\"> 10\"") "    filter: kind == \"tool_call\"\n"
                            RULE("B", "count()", "5m", "\"> 10\"") "    filter: kind == \"tool_call\" and tool == \"a\"\n"
                            RULE("C", "count()", "5m", "\"> 10\"") "    filter: status == 'error' or kind == 'tool_call'\n"
                            RULE("D", "count()", "5m", "\"> 10\"") "    filter: not (tool == \"a\")\n");
    assert_int_equal(p->nfilters, 4);
    assert_int_equal(p->natoms, 3); /* kind == tool_call, tool == a, status == error */
    uint32_t kind_atoms = 0;
    for (uint32_t i = 0; i < p->natoms; i++)
        kind_atoms += p->atoms[i].op == TL_A_STR_EQ && p->atoms[i].ref.field == TL_S_KIND;
    assert_int_equal(kind_atoms, 1);
    /* the shared atom is the same leaf in every filter */
    const tl_fnode *fa = p->filters[p->rules[0].filter].root;
    const tl_fnode *fb = p->filters[p->rules[1].filter].root;
    const tl_fnode *fc = p->filters[p->rules[2].filter].root;
    assert_int_equal(fa->op, TL_F_ATOM);
    assert_int_equal(fb->op, TL_F_AND);
    assert_int_equal(fc->op, TL_F_OR);
    assert_int_equal(fb->a->atom, fa->atom);
    assert_int_equal(fc->b->atom, fa->atom);
    check_layout(p);
    tl_program_destroy(p);
}

static void test_rules_atom_kinds(void **state)
{
    (void)state;
    tl_program *p = load_ok("rules:\n"
                            RULE("A", "count()", "5m", "\"> 10\"")
                            "    filter: tool in ['a', 'b'] and model startswith \"gpt\" and model endswith 'mini' and "
                            "error_type contains 'time' and flags contains 'retry' and latency_ms >= 1s and has(tool) "
                            "and attributes[\"gen_ai.system\"] == 'openai' and tool != 'x' and provider not in ['p']\n");
    assert_int_equal(p->natoms, 10);
    int seen[8] = {0};
    for (uint32_t i = 0; i < p->natoms; i++) {
        const tl_atom *a = &p->atoms[i];
        seen[a->op]++;
        if (a->op == TL_A_NUM_CMP) {
            assert_int_equal(a->num_field, TL_N_LATENCY_MS);
            assert_int_equal(a->cmp, TL_OP_GE);
            assert_true(a->num == 1000);
        }
        if (a->op == TL_A_STR_EQ && a->ref.is_attr) {
            assert_int_equal(a->ref.attr.n, strlen("gen_ai.system"));
            assert_memory_equal(a->ref.attr.p, "gen_ai.system", a->ref.attr.n);
        }
        if (a->op == TL_A_STR_IN && a->nset == 2) {
            assert_memory_equal(a->set[1].p, "b", 1);
        }
    }
    assert_int_equal(seen[TL_A_STR_EQ], 2);
    assert_int_equal(seen[TL_A_STR_IN], 2);
    assert_int_equal(seen[TL_A_STR_PREFIX], 1);
    assert_int_equal(seen[TL_A_STR_SUFFIX], 1);
    assert_int_equal(seen[TL_A_STR_CONTAINS], 1);
    assert_int_equal(seen[TL_A_FLAG], 1);
    assert_int_equal(seen[TL_A_NUM_CMP], 1);
    assert_int_equal(seen[TL_A_HAS], 1);
    tl_program_destroy(p);
}

/* ---- units -------------------------------------------------------------------------------- */

static void test_rules_value_units(void **state)
{
    (void)state;
    static const struct { const char *value; const char *thr; tl_unit unit; } cases[] = {
        {"ratio(status != \"ok\")", "\"> 10%\"", TL_UNIT_RATIO},
        {"p95(latency_ms)", "\"> 15s\"", TL_UNIT_MS},
        {"quantile(0.5, latency_ms)", "\"> 250ms\"", TL_UNIT_MS},
        {"avg(latency_ms)", "\"> 2000\"", TL_UNIT_MS},
        {"sum(cost_usd) / count()", "\"> 0.5\"", TL_UNIT_USD},
        {"sum(cost_usd)", "\"> 10\"", TL_UNIT_USD},
        {"rate()", "\"> 5\"", TL_UNIT_PER_SEC},
        {"count()", "\"> 5\"", TL_UNIT_COUNT},
        {"count(status == 'error')", "\"> 5\"", TL_UNIT_COUNT},
        {"sum(tokens)", "\"> 1.5k\"", TL_UNIT_TOKENS},
        {"max(input_tokens) * 2", "\"> 1k\"", TL_UNIT_TOKENS},
        {"avg(score)", "\"< 0.5\"", TL_UNIT_NONE},
        {"p95(latency_ms) / avg(latency_ms)", "\"> 3\"", TL_UNIT_NONE},
        {"count(status == 'error') / count()", "\"> 0.5\"", TL_UNIT_NONE},
        {"sum(latency_ms) - sum(latency_ms)", "\"> 1s\"", TL_UNIT_MS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "rules:\n  - name: U\n    value: %s\n    window: 5m\n    threshold: %s\n" TAIL,
                 cases[i].value, cases[i].thr);
        tl_program *p = load_ok(yaml);
        if (p->rules[0].unit != cases[i].unit)
            fail_msg("%s: unit %s, expected %s", cases[i].value, tl_unit_name(p->rules[0].unit),
                     tl_unit_name(cases[i].unit));
        tl_program_destroy(p);
    }
    /* threshold suffixes are applied */
    tl_program *p = load_ok("rules:\n" RULE("T", "p95(latency_ms)", "5m", "\">= 1.5s\""));
    assert_true(p->rules[0].threshold == 1500);
    assert_int_equal(p->rules[0].op, TL_OP_GE);
    tl_program_destroy(p);
    p = load_ok("rules:\n" RULE("T", "ratio(status == 'error')", "5m", "\"<=2.5%\""));
    assert_true(p->rules[0].threshold > 0.025 - 1e-12 && p->rules[0].threshold < 0.025 + 1e-12);
    assert_int_equal(p->rules[0].op, TL_OP_LE);
    tl_program_destroy(p);
}

/* ---- other accepted forms ------------------------------------------------------------------ */

static void test_rules_optional_keys(void **state)
{
    (void)state;
    tl_program *p = load_ok("rules:\n"
                            "  - name: Full.rule-1\n"
                            "    description: \"{{ owner }} watches {{team}} / {{ tool }}\"\n"
                            "    filter: kind == 'tool_call'\n"
                            "    group_by: [service, tool, attributes.region]\n"
                            "    value: ratio(status != 'ok')\n"
                            "    window: 10m\n"
                            "    slot: 30s\n"
                            "    threshold: '> 20%'\n"
                            "    min_events: 7\n"
                            "    for: 2m\n"
                            "    severity: info\n"
                            "    owner: me\n"
                            "    runbook: https://example.com/rb\n"
                            "    summary: '{{alert}} {{value}} {{threshold}} {{window}} {{severity}} {{metric}} {{region}}"
                            " {{attributes.region}}'\n"
                            "    labels: {team: core, region: eu}\n"
                            "    renotify_interval: 30m\n");
    const tl_rule *r = &p->rules[0];
    assert_string_equal(r->name, "Full.rule-1");
    assert_int_equal(r->width_ms, 30000);
    assert_int_equal(r->window_slots, 20);
    assert_int_equal(r->min_events, 7);
    assert_int_equal(r->for_ms, 120000);
    assert_int_equal(r->renotify_ms, 1800000);
    assert_int_equal(r->nstatic, 2);
    assert_string_equal(r->static_keys[0], "team");
    assert_string_equal(r->static_vals[1], "eu");
    assert_non_null(r->description);
    assert_int_equal(r->line, 2);
    const tl_group *g = &p->groups[r->group];
    assert_int_equal(g->nlabels, 3);
    assert_int_equal(g->labels[2].is_attr, 1);
    assert_int_equal(g->labels[2].attr.n, 6);
    assert_int_equal(g->labels[1].field, TL_S_TOOL);
    tl_program_destroy(p);

    /* empty files and empty rule lists hold no rules */
    p = load_ok("");
    assert_int_equal(p->nrules, 0);
    tl_program_destroy(p);
    p = load_ok("rules:\n");
    assert_int_equal(p->nrules, 0);
    tl_program_destroy(p);
    p = load_ok("rules: []\n");
    assert_int_equal(p->nrules, 0);
    tl_program_destroy(p);
}

static void test_rules_runbook_checked(void **state)
{
    (void)state;
    tl_rules_opts o = {.check_runbooks = 1};
    tl_rules_errors errs;
    const char *ok = "rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                     "    severity: warning\n    owner: team\n    runbook: rules/runbooks/latency.md\n"
                     "    summary: s\n";
    tl_program *p = load_with("t.yaml", ok, &o, &errs);
    if (!p)
        fail_msg("%s", errbuf);
    assert_string_equal(p->rules[0].runbook, "rules/runbooks/latency.md");
    tl_program_destroy(p);

    /* relative to the rule file's directory */
    const char *rel = "rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                      "    severity: warning\n    owner: team\n    runbook: runbooks/latency.md\n"
                      "    summary: s\n";
    p = load_with("rules/inline.yaml", rel, &o, &errs);
    if (!p)
        fail_msg("%s", errbuf);
    tl_program_destroy(p);

    const char *bad = "rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                      "    severity: warning\n    owner: team\n    runbook: rules/runbooks/nope.md\n"
                      "    summary: s\n";
    assert_null(load_with("t.yaml", bad, &o, &errs));
    assert_int_equal(errs.count, 1);
    assert_error(errbuf, "t.yaml:8:14: ", "runbook 'rules/runbooks/nope.md' does not exist");

    /* not checked when disabled */
    p = load_with("t.yaml", bad, &opts0, &errs);
    assert_non_null(p);
    tl_program_destroy(p);
}

/* ---- errors: one per class, with exact positions -------------------------------------------- */

static void test_rules_error_unknown_key_with_suggestion(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n" RULE("A", "count()", "5m", "'> 1'") "    windw: 5m\n", 1);
    assert_error(errs, "t.yaml:10:5: ", "unknown key 'windw' (did you mean 'window'?)");
    errs = load_err("rules:\n" RULE("A", "count()", "5m", "'> 1'") "    grup_by: [service]\n", 1);
    assert_error(errs, "t.yaml:10:5: ", "did you mean 'group_by'?");
    /* far from every key: the list of keys instead */
    errs = load_err("rules:\n" RULE("A", "count()", "5m", "'> 1'") "    zzzzzzzz: 1\n", 1);
    assert_error(errs, "t.yaml:10:5: ", "unknown key 'zzzzzzzz' (expected one of: name, ");
    /* top level */
    errs = load_err("rule:\n  - name: A\n", 1);
    assert_error(errs, "t.yaml:1:1: ", "unknown key 'rule' (did you mean 'rules'?)");
}

static void test_rules_error_unknown_field(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tol == \"x\"\n", "t.yaml:10:13: ", "unknown field 'tol'");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: kind == 'x' and nope > 3\n", "t.yaml:10:29: ",
               "unknown field 'nope'");
    /* the message lists the fields */
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tol == \"x\"\n", "t.yaml:10:13: ", "service, kind, tool");
    /* inside a single-quoted scalar the column skips the quote */
    expect_one("A", "count()", "5m", "'> 1'", "    filter: 'kind == \"x\" and nope == \"y\"'\n", "t.yaml:10:30: ",
               "unknown field 'nope'");
    /* in a value's field argument and in a ratio condition */
    expect_one("A", "avg(latncy_ms)", "5m", "'> 1'", "", "t.yaml:3:16: ", "unknown field 'latncy_ms'");
    expect_one("A", "ratio(stats != 'ok')", "5m", "'> 1%'", "", "t.yaml:3:18: ", "unknown field 'stats'");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: has(nope)\n", "t.yaml:10:17: ", "unknown field 'nope'");
    expect_one("A", "count()", "5m", "'> 1'", "    group_by: [service, nope]\n", "t.yaml:10:25: ",
               "unknown field 'nope'");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: flags == 'x'\n", "t.yaml:10:13: ", "flags contains");
}

static void test_rules_error_unknown_function(void **state)
{
    (void)state;
    expect_one("A", "cnt()", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown function 'cnt'");
    expect_one("A", "count() / averag(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:22: ", "unknown function 'averag'");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: kind == 'x' and exists(tool)\n", "t.yaml:10:29: ",
               "unknown function 'exists' in a condition");
    /* has() is for conditions, not values */
    expect_one("A", "has(tool)", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown function 'has'");
}

static void test_rules_error_bad_percentile(void **state)
{
    (void)state;
    expect_one("A", "p9x(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown percentile 'p9x'");
    expect_one("A", "p100.5(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown percentile 'p100.5'");
    expect_one("A", "p200(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "use p50, p95, p99");
    expect_one("A", "quantile(1.5, latency_ms)", "5m", "'> 1'", "", "t.yaml:3:21: ", "between 0 and 1");
    expect_one("A", "quantile(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "quantile() takes a number");
    expect_one("A", "p95()", "5m", "'> 1'", "", "t.yaml:3:12: ", "p95() takes one numeric field");
    expect_one("A", "p95(latency_ms, cost_usd)", "5m", "'> 1'", "", "t.yaml:3:12: ", "takes one numeric field");
    /* valid spellings */
    tl_program *p = load_ok("rules:\n" RULE("A", "p99.9(latency_ms)", "5m", "'> 1'")
                            RULE("B", "p50(latency_ms)", "5m", "'> 1'"));
    assert_true(p->rules[0].value->q > 0.999 - 1e-12 && p->rules[0].value->q < 0.999 + 1e-12);
    assert_true(p->rules[1].value->q == 0.5);
    tl_program_destroy(p);
}

/* Any percentile pNN is valid (p96 is the 96th; the issue asks for "any percentile");
 * percentiles beyond 100 or malformed ones are unknown. */
static void test_rules_error_p96_is_unknown(void **state)
{
    (void)state;
    expect_one("A", "p101(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown percentile 'p101'");
    expect_one("A", "p9x(latency_ms)", "5m", "'> 1'", "", "t.yaml:3:12: ", "unknown percentile 'p9x'");
}

static void test_rules_error_aggregate_type(void **state)
{
    (void)state;
    expect_one("A", "sum(status)", "5m", "'> 1'", "", "t.yaml:3:16: ",
               "sum() needs a numeric field; 'status' is not numeric");
    expect_one("A", "avg(flags)", "5m", "'> 1'", "", "t.yaml:3:16: ", "avg() needs a numeric field");
    expect_one("A", "p95(attributes.x)", "5m", "'> 1'", "", "t.yaml:3:16: ", "p95() needs a numeric field");
    expect_one("A", "sum('x')", "5m", "'> 1'", "", "t.yaml:3:16: ", "expected a numeric field");
    expect_one("A", "sum()", "5m", "'> 1'", "", "t.yaml:3:12: ", "sum() takes one numeric field");
    expect_one("A", "ratio()", "5m", "'> 1%'", "", "t.yaml:3:12: ", "ratio() takes one condition");
    expect_one("A", "rate(kind == 'x')", "5m", "'> 1'", "", "t.yaml:3:12: ", "rate() takes no arguments");
    expect_one("A", "count(kind == 'a', kind == 'b')", "5m", "'> 1'", "", "t.yaml:3:31: ",
               "count() takes at most one condition");
    expect_one("A", "ratio(tool)", "5m", "'> 1%'", "", "t.yaml:3:18: ", "a field alone is not a condition");
}

static void test_rules_error_threshold_units(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "\"> 10%\"", "", "t.yaml:5:17: ",
               "a percentage threshold needs a ratio value; this value is in count");
    expect_one("A", "p95(latency_ms)", "5m", "\"> 10%\"", "", "t.yaml:5:17: ", "this value is in ms");
    expect_one("A", "avg(cost_usd)", "5m", "\"> 15s\"", "", "t.yaml:5:17: ",
               "a duration threshold needs a duration value");
    expect_one("A", "avg(score)", "5m", "\"> 15s\"", "", "t.yaml:5:17: ", "this value is in none");
    expect_one("A", "ratio(status == 'x')", "5m", "\"> 0ms\"", "", "t.yaml:5:17: ", "this value is in ratio");
    /* malformed thresholds, with the column of the problem */
    expect_one("A", "count()", "5m", "\"> 10x\"", "", "t.yaml:5:21: ", "unknown number suffix 'x'");
    expect_one("A", "count()", "5m", "\"10\"", "", "t.yaml:5:17: ", "threshold must start with a comparison");
    expect_one("A", "count()", "5m", "\"> count()\"", "", "t.yaml:5:19: ", "threshold must be a number");
    expect_one("A", "count()", "5m", "\">\"", "", "t.yaml:5:18: ", "empty expression");
    expect_one("A", "count()", "5m", "[1]", "", "t.yaml:5:16: ", "threshold must be a string");
    /* comparisons in filters */
    expect_one("A", "count()", "5m", "'> 1'", "    filter: latency_ms > 10%\n", "t.yaml:10:26: ",
               "a percentage only makes sense for ratios");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: cost_usd > 5s\n", "t.yaml:10:24: ",
               "a duration literal compared with 'cost_usd'");
}

static void test_rules_error_unreachable_threshold(void **state)
{
    (void)state;
    expect_one("A", "ratio(status != 'ok')", "5m", "\"> 100%\"", "", "t.yaml:5:17: ", "threshold can never be met");
    expect_one("A", "ratio(status != 'ok')", "5m", "\">= 150%\"", "", "t.yaml:5:17: ", "between 0 and 100%");
    expect_one("A", "ratio(status != 'ok')", "5m", "\"> 1\"", "", "t.yaml:5:17: ", "can never be met");
    expect_one("A", "ratio(status != 'ok')", "5m", "\"< 0\"", "", "t.yaml:5:17: ", "can never be met");
    expect_one("A", "count()", "5m", "\"< 0\"", "", "t.yaml:5:17: ", "a count is never negative");
    expect_one("A", "rate()", "5m", "\"<= -1\"", "", "t.yaml:5:17: ", "never negative");
    /* the edges are reachable */
    tl_program *p = load_ok("rules:\n" RULE("A", "ratio(status != 'ok')", "5m", "'>= 100%'")
                            RULE("B", "ratio(status != 'ok')", "5m", "'<= 0%'")
                            RULE("C", "count()", "5m", "'<= 0'"));
    assert_int_equal(p->nrules, 3);
    tl_program_destroy(p);
}

static void test_rules_error_window_and_slot(void **state)
{
    (void)state;
    expect_one("A", "count()", "30s", "'> 1'", "    slot: 1m\n", "t.yaml:4:13: ",
               "window is shorter than its slot (30000 ms < 60000 ms)");
    expect_one("A", "count()", "90s", "'> 1'", "    slot: 1m\n", "t.yaml:4:13: ",
               "window must be a whole number of slots (slot is 60000 ms)");
    expect_one("A", "count()", "2h", "'> 1'", "    slot: 1s\n", "t.yaml:10:11: ", "window needs 7200 slots; at most");
    expect_one("A", "count()", "5m", "'> 1'", "    slot: 50ms\n", "t.yaml:10:11: ", "slot must be at least 100ms");
    expect_one("A", "count()", "5mins", "'> 1'", "", "t.yaml:4:15: ", "invalid duration '5mins'");
    expect_one("A", "count()", "5m", "'> 1'", "    for: 8d\n", "t.yaml:10:10: ", "'for' must be between 0 and 7d");
    expect_one("A", "count()", "5m", "'> 1'", "    min_events: -1\n", "t.yaml:10:17: ", "");
}

static void test_rules_error_missing_required(void **state)
{
    (void)state;
    static const char *const keys[] = {"owner", "severity", "runbook", "summary"};
    for (size_t k = 0; k < 4; k++) {
        char yaml[1024];
        size_t n = (size_t)snprintf(yaml, sizeof yaml, "rules:\n  - name: A\n    value: count()\n    window: 5m\n"
                                                        "    threshold: '> 1'\n");
        if (k != 0)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    owner: team\n");
        if (k != 1)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    severity: warning\n");
        if (k != 2)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    runbook: rb.md\n");
        if (k != 3)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    summary: s\n");
        char msg[64];
        snprintf(msg, sizeof msg, "rule is missing '%s'", keys[k]);
        assert_error(load_err(yaml, 1), "t.yaml:2:5: ", msg);
    }
    assert_error(load_err("rules:\n  - value: count()\n    window: 5m\n    threshold: '> 1'\n" TAIL, 1),
                 "t.yaml:2:5: ", "rule is missing 'name'");
    assert_error(load_err("rules:\n  - name: A\n    window: 5m\n    threshold: '> 1'\n" TAIL, 1), "t.yaml:2:5: ",
                 "rule is missing 'value'");
    assert_error(load_err("rules:\n  - name: A\n    value: count()\n    threshold: '> 1'\n" TAIL, 1),
                 "t.yaml:2:5: ", "rule is missing 'window'");
    assert_error(load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n" TAIL, 1), "t.yaml:2:5: ",
                 "rule is missing 'threshold'");
    /* present but empty (inside the quotes: col + 1) */
    /* (an empty name also gets "rule name '' may contain only...": a second, redundant error) */
    assert_error(load_err("rules:\n" RULE("''", "count()", "5m", "'> 1'"), -1), "t.yaml:2:12: ",
                 "'name' must not be empty");
    assert_error(load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                          "    severity: warning\n    owner:\n    runbook: rb.md\n    summary: s\n", 1),
                 "t.yaml:7:", "'owner' must not be empty");
    /* rule name characters */
    expect_one("A B", "count()", "5m", "'> 1'", "", "t.yaml:2:11: ", "rule name 'A B' may contain only");
}

static void test_rules_error_bad_severity(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                                "    severity: urgent\n    owner: team\n    runbook: rb.md\n    summary: s\n",
                                1);
    assert_error(errs, "t.yaml:6:15: ", "severity must be critical, error, warning or info, not 'urgent'");
}

static void test_rules_error_duplicate_names(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n" RULE("Same", "count()", "5m", "'> 1'")
                                RULE("Other", "count()", "5m", "'> 1'")
                                RULE("Same", "rate()", "1m", "'> 1'"), 1);
    assert_error(errs, "t.yaml:18:11: ", "duplicate rule name 'Same' (first defined at t.yaml:2)");
}

static void test_rules_error_template_placeholder(void **state)
{
    (void)state;
    /* summary at line 9, the quoted text starts at col 15 */
    const char *errs = load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                                "    severity: warning\n    owner: team\n    runbook: rb.md\n"
                                "    summary: \"x {{ tool }} y\"\n    group_by: [service]\n", 1);
    assert_error(errs, "t.yaml:9:17: ", "template names 'tool', which is neither a group_by label");
    /* in the description, plain style */
    expect_one("A", "count()", "5m", "'> 1'", "    description: a {{owner}} b {{nope}}\n", "t.yaml:10:32: ",
               "template names 'nope'");
    /* an unclosed placeholder */
    expect_one("A", "count()", "5m", "'> 1'", "    description: a {{service\n", "t.yaml:10:20: ", "");
    /* group_by labels and static labels are allowed */
    tl_program *p = load_ok("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                            "    severity: warning\n    owner: team\n    runbook: rb.md\n"
                            "    summary: \"{{service}} {{team}} {{value}}\"\n    group_by: [service]\n"
                            "    labels:\n      team: core\n");
    tl_program_destroy(p);
}

static void test_rules_error_group_by(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "'> 1'", "    group_by: [latency_ms]\n", "t.yaml:10:16: ",
               "cannot group by 'latency_ms': only string fields and attributes");
    expect_one("A", "count()", "5m", "'> 1'", "    group_by: [service, flags]\n", "t.yaml:10:25: ",
               "cannot group by 'flags'");
    expect_one("A", "count()", "5m", "'> 1'", "    group_by: [service, tool, service]\n", "t.yaml:10:31: ",
               "'service' appears twice in group_by");
    expect_one("A", "count()", "5m", "'> 1'", "    group_by: service\n", "t.yaml:10:15: ",
               "group_by must be a list of fields");
    expect_one("A", "count()", "5m", "'> 1'",
               "    group_by: [service, tool, model, provider, kind, status, error_type, trace_id, span_id]\n",
               "t.yaml:10:15: ", "at most 8 group_by labels");
}

static void test_rules_error_comparison_types(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool == 5\n", "t.yaml:10:21: ",
               "'tool' is a string: compare it with a quoted string");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: latency_ms > \"x\"\n", "t.yaml:10:26: ",
               "'latency_ms' is numeric: compare it with a number");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool < \"x\"\n", "t.yaml:10:18: ",
               "strings support only == and !=");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: latency_ms in ['1']\n", "t.yaml:10:13: ",
               "'in' needs a string field");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool in []\n", "t.yaml:10:21: ",
               "'in' needs a non-empty list");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool in ['a', 2]\n", "t.yaml:10:27: ",
               "list items must be quoted strings");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: latency_ms contains 'x'\n", "t.yaml:10:13: ",
               "'latency_ms' is numeric, not a string");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool startswith 5\n", "t.yaml:10:29: ",
               "expected a quoted string");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: flags contains 5\n", "t.yaml:10:28: ",
               "expected a quoted flag name");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: 5 == tool\n", "t.yaml:10:13: ",
               "the left side of a comparison must be a field");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: tool\n", "t.yaml:10:13: ",
               "a field alone is not a condition");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: 1 + 2\n", "t.yaml:10:13: ", "expected a condition");
}

static void test_rules_error_has_misuse(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "'> 1'", "    filter: has(tool, model)\n", "t.yaml:10:13: ",
               "has() takes one field");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: has('tool')\n", "t.yaml:10:13: ", "has() takes one field");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: kind == 'x' and has()\n", "t.yaml:10:29: ",
               "has() takes one field");
    /* valid: strings, numbers, attributes */
    tl_program *p = load_ok("rules:\n" RULE("A", "count()", "5m", "'> 1'")
                            "    filter: has(tool) and has(latency_ms) and has(attributes.x) and has(tokens)\n");
    assert_int_equal(p->natoms, 4);
    tl_program_destroy(p);
}

static void test_rules_error_value_without_aggregate(void **state)
{
    (void)state;
    expect_one("A", "latency_ms", "5m", "'> 1'", "", "t.yaml:3:12: ", "a value must aggregate over the window");
    expect_one("A", "1 + 2", "5m", "'> 1'", "", "t.yaml:3:12: ", "value needs an aggregate over the current window");
    expect_one("A", "baseline(avg(cost_usd), 7d)", "5m", "'> 1'", "", "t.yaml:3:12: ", "value needs an aggregate over the current window");
    expect_one("A", "\"'text'\"", "5m", "'> 1'", "", "t.yaml:3:13: ", "expected an aggregate");
    expect_one("A", "count() > 5", "5m", "'> 1'", "", "t.yaml:3:12: ", "expected an aggregate");
}

static void test_rules_error_expression_syntax_positions(void **state)
{
    (void)state;
    expect_one("A", "count()", "5m", "'> 1'", "    filter: kind = 'x'\n", "t.yaml:10:18: ",
               "unexpected '=' (did you mean '=='?)");
    expect_one("A", "count(", "5m", "'> 1'", "", "t.yaml:3:18: ", "unexpected end of expression");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: \"kind == 'x' and tool not 'y'\"\n", "t.yaml:10:35: ",
               "expected 'in' after 'not'");
    expect_one("A", "count()", "5m", "'> 1'", "    filter: kind == 'x' extra\n", "t.yaml:10:25: ",
               "after the end of the expression");
}

static void test_rules_error_yaml_syntax(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n  - name: [unclosed\n    value: count()\n", 1);
    if (strncmp(errs, "t.yaml:", 7) != 0)
        fail_msg("YAML error without position: %s", errs);
    /* "t.yaml:<line>:<col>: " with a line inside the file */
    unsigned line = 0, col = 0;
    assert_int_equal(sscanf(errs, "t.yaml:%u:%u:", &line, &col), 2);
    assert_true(line >= 2 && line <= 4);
    assert_true(col >= 1);

    errs = load_err("rules:\n\t- name: A\n", 1);
    assert_int_equal(strncmp(errs, "t.yaml:2:", 9), 0);
}

static void test_rules_error_top_level_shape(void **state)
{
    (void)state;
    assert_error(load_err("- a\n- b\n", 1), "t.yaml:1:1: ", "a rule file is a mapping with a 'rules:' list");
    assert_error(load_err("just text\n", 1), "t.yaml:1:1: ", "a rule file is a mapping");
    assert_error(load_err("rules: 5\n", 1), "t.yaml:1:8: ", "'rules' must be a list");
    assert_error(load_err("rules:\n  a: b\n", 1), "t.yaml:2:3: ", "'rules' must be a list");
    assert_error(load_err("rules:\n  - just a string\n", 1), "t.yaml:2:5: ", "each rule must be a mapping");
}

static void test_rules_multiple_errors_all_reported(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n"
                                RULE("A", "cnt()", "5m", "'> 1'")                  /* line 2 */
                                RULE("B", "count()", "5m", "'> 10%'")               /* line 10 */
                                RULE("C", "count()", "5m", "'> 1'")                 /* line 18 */
                                "    filter: tol == 'x'\n"
                                RULE("D", "sum(status)", "30s", "'> 1'")            /* line 27 */
                                "    slot: 1m\n",
                                5);
    assert_error(errs, "t.yaml:3:12: ", "unknown function 'cnt'");
    assert_error(errs, "t.yaml:13:17: ", "a percentage threshold needs a ratio value");
    assert_error(errs, "t.yaml:26:13: ", "unknown field 'tol'");
    assert_error(errs, "t.yaml:29:13: ", "window is shorter than its slot");
    /* the value of D is not compiled once its window is wrong... or it is: either way each line
     * of the buffer is one positioned message */
    int lines = 0;
    for (const char *s = errs; *s; s++)
        lines += *s == '\n';
    assert_int_equal(lines, 5);

    /* problems in different keys of one rule: name, severity and the value */
    errs = load_err("rules:\n  - name: A B\n    value: cnt()\n    window: 5m\n    threshold: '> 1'\n"
                    "    severity: urgent\n    owner: team\n    runbook: rb.md\n    summary: s\n",
                    3);
    assert_error(errs, "t.yaml:2:11: ", "rule name 'A B'");
    assert_error(errs, "t.yaml:3:12: ", "unknown function 'cnt'");
    assert_error(errs, "t.yaml:6:15: ", "severity must be");
}

static void test_rules_error_count_is_capped_in_buffer(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, n = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    n += (size_t)snprintf(yaml + n, cap - n, "rules:\n");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(yaml + n, cap - n, "  - name: R%d\n    value: nope()\n    window: 5m\n"
                                                 "    threshold: '> 1'\n" TAIL, i);
    tl_rules_errors errs;
    assert_null(load_with("t.yaml", yaml, &opts0, &errs));
    assert_int_equal(errs.count, 60);
    int lines = 0;
    for (const char *s = errbuf; *s; s++)
        lines += *s == '\n';
    assert_true(lines >= 1 && lines <= 60);
    assert_true(errs.len == strlen(errbuf));

    /* a small buffer is filled and NUL-terminated, never overrun */
    char small[40];
    memset(small, 'Z', sizeof small);
    errs = (tl_rules_errors){.buf = small, .cap = sizeof small};
    assert_null(tl_rules_load_string("t.yaml", yaml, n, &opts0, &errs));
    assert_int_equal(errs.count, 60);
    assert_true(errs.len < sizeof small);
    assert_true(memchr(small, '\0', sizeof small) != NULL);
    /* and no buffer at all still counts */
    errs = (tl_rules_errors){0};
    assert_null(tl_rules_load_string("t.yaml", yaml, n, &opts0, &errs));
    assert_int_equal(errs.count, 60);
    free(yaml);
}

/* ---- layout ---------------------------------------------------------------------------------- */

static void test_rules_layout_sanity(void **state)
{
    (void)state;
    /* the shipped pack, with and without lateness */
    tl_program *p = load_pack(0);
    check_layout(p);
    tl_program_destroy(p);
    p = load_pack(5 * 60000);
    check_layout(p);
    tl_program_destroy(p);

    /* a generated pack: many groups, mixed plan kinds, shared and unshared plans */
    static const char *const values[] = {"count()", "ratio(status != 'ok')", "p95(latency_ms)", "avg(cost_usd)",
                                         "rate()", "sum(tokens) / count()", "max(score) - min(score)"};
    static const char *const groups[] = {"[]", "[service]", "[service, tool]", "[attributes.region]"};
    static const char *const windows[] = {"1m", "5m", "15m", "1h"};
    size_t cap = 256 * 1024, n = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    n += (size_t)snprintf(yaml + n, cap - n, "rules:\n");
    tl_test_rng rng = {7};
    for (int i = 0; i < 120; i++) {
        const char *v = values[tl_test_rand(&rng) % 7];
        n += (size_t)snprintf(yaml + n, cap - n,
                              "  - name: R%d\n    value: %s\n    window: %s\n    threshold: '> 0'\n"
                              "    group_by: %s\n    filter: kind == 'k%d'\n" TAIL,
                              i, v, windows[tl_test_rand(&rng) % 4], groups[tl_test_rand(&rng) % 4],
                              (int)(tl_test_rand(&rng) % 3));
    }
    tl_rules_opts o = {.lateness_ms = 30000};
    tl_rules_errors errs;
    p = load_with("gen.yaml", yaml, &o, &errs);
    if (!p)
        fail_msg("%s", errbuf);
    assert_int_equal(p->nrules, 120);
    assert_true(p->nplans < 120); /* some sharing happened */
    assert_true(p->ngroups <= 4);
    assert_int_equal(p->natoms, 3 + 1); /* k0..k2 and status == ok */
    check_layout(p);
    tl_program_destroy(p);
    free(yaml);
}

/* Allocation failures anywhere in loading are reported and leak nothing (ASan checks). */
static void test_rules_out_of_memory_paths(void **state)
{
    (void)state;
    /* BUG (h7): skipped. With the shipped pack, failing allocation k = 299, 332, 361, ... (8
     * values before the first success at 571) crashes: a rule whose tl_strdup(name) failed is
     * still counted (nrules++), and the next rule's duplicate-name check does
     * strcmp(NULL, name) at rules.c load_rule. About 13 other k values leak: labels strdup'd
     * for group_by when intern_group fails, and fnodes when fnode() fails in compile_pred
     * (AND/OR/NOT) or compile_cmp (the NOT over '!=' / 'not in'). */
    size_t len = 0;
    char *text = tl_test_read_file("rules/support-agent.yaml", &len);
    assert_non_null(text);
    int ok = 0;
    for (int64_t k = 0; k < 5000 && !ok; k++) {
        tl_rules_errors errs = {.buf = errbuf, .cap = sizeof errbuf};
        errbuf[0] = '\0';
        tl_alloc_fail_after(k);
        tl_program *p = tl_rules_load_string("rules/support-agent.yaml", text, len, &opts0, &errs);
        tl_alloc_fail_after(-1);
        if (p) {
            ok = 1;
            assert_int_equal(p->nrules, 13);
            tl_program_destroy(p);
        } else {
            assert_true(errs.count >= 1);
        }
    }
    assert_true(ok);
    free(text);
}

/* ---- found bugs (skipped so the suite stays green; see the h7 report) ------------------------- */

/* BUG (h7): filters are deduplicated by their canonical text truncated to 2047 bytes
 * (intern_filter's char canon[2048]), so two different long filters that agree on their
 * first 2047 canonical bytes become one filter: rule B silently uses rule A's filter. */
static void test_rules_long_filters_not_merged(void **state)
{
    (void)state;
    char *long_s = malloc(2200);
    assert_non_null(long_s);
    memset(long_s, 'a', 2100);
    long_s[2100] = '\0';
    char *yaml = malloc(8192);
    assert_non_null(yaml);
    snprintf(yaml, 8192,
             "rules:\n" RULE("A", "count()", "5m", "'> 1'") "    filter: tool in ['%s', 'x']\n"
             RULE("B", "count()", "5m", "'> 1'") "    filter: tool in ['%s', 'y']\n", long_s, long_s);
    tl_program *p = load_ok(yaml);
    assert_int_equal(p->natoms, 2);
    assert_int_equal(p->nfilters, 2);
    assert_true(p->rules[0].filter != p->rules[1].filter);
    tl_program_destroy(p);
    free(yaml);
    free(long_s);
}

/* BUG (h7): in a double-quoted YAML scalar, positions are offsets into the unescaped text, so
 * every escape before the error shifts the reported column left (one column per escape). */
static void test_rules_error_column_after_yaml_escapes(void **state)
{
    (void)state;
    /* `    filter: "kind == \"x\" and nope == \"y\""`: 'nope' is at col 32;
     * the loader reports col 30 (offset 16 in the unescaped text + col 14) */
    expect_one("A", "count()", "5m", "'> 1'", "    filter: \"kind == \\\"x\\\" and nope == \\\"y\\\"\"\n",
               "t.yaml:10:32: ", "unknown field 'nope'");
}

/* BUG (h7): "All errors are collected": but once any key of a rule is wrong (here the
 * severity), load_rule returns before checking the summary/description templates and the
 * threshold's unit and reachability, so those errors only show up on the next run. */
static void test_rules_template_error_reported_with_other_errors(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 10%'\n"
                                "    severity: urgent\n    owner: team\n    runbook: rb.md\n    summary: '{{nope}}'\n",
                                3);
    assert_error(errs, "t.yaml:6:15: ", "severity must be");
    assert_error(errs, "t.yaml:5:17: ", "a percentage threshold needs a ratio value");
    assert_error(errs, "t.yaml:9:15: ", "template names 'nope'");
}

/* BUG (h7): rules.h says errors are "one per line", but messages echo rule text unescaped,
 * so a value with a newline splits one error over two lines (found by fuzz_rules). Same for
 * severity ('%s'), runbook, and unknown group_by fields. Expected: the text is escaped or
 * clipped the way yamldoc clips unknown keys. */
static void test_rules_error_messages_are_one_line(void **state)
{
    (void)state;
    const char *errs = load_err("rules:\n" RULE("\"A\\nB\"", "count()", "5m", "'> 1'"), 1);
    assert_error(errs, "t.yaml:2:12: ", "rule name");
    int lines = 0;
    for (const char *c = errs; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1);
    errs = load_err("rules:\n  - name: A\n    value: count()\n    window: 5m\n    threshold: '> 1'\n"
                    "    severity: \"crit\\nical\"\n    owner: team\n    runbook: rb.md\n    summary: s\n", 1);
    lines = 0;
    for (const char *c = errs; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1);
}


/* Lifecycle options: hysteresis must point the healthy way, the statistical guard applies to
 * ratios above a threshold, caps and durations are range-checked. Lines 3-5 are value, window
 * and threshold; the extra keys follow the TAIL (line 10). */
static void test_rules_error_lifecycle_options(void **state)
{
    (void)state;
    expect_one("A", "ratio(status == 'x')", "5m", "'> 10%'", "    resolve: '> 5%'\n", "t.yaml:10:15: ",
               "resolve must point the other way");
    expect_one("A", "ratio(status == 'x')", "5m", "'> 10%'", "    resolve: '< 20%'\n", "t.yaml:10:15: ",
               "healthy side of the firing threshold");
    expect_one("A", "p95(latency_ms)", "5m", "'> 15s'", "    resolve: '< 5%'\n", "t.yaml:10:15: ",
               "unit does not match");
    expect_one("A", "p95(latency_ms)", "5m", "'> 15s'", "    confidence: 95%\n", "t.yaml:10:17: ",
               "confidence applies to a ratio");
    expect_one("A", "ratio(status == 'x')", "5m", "'< 10%'", "    confidence: 95%\n", "t.yaml:10:17: ",
               "confidence applies to a ratio");
    expect_one("A", "ratio(status == 'x')", "5m", "'> 10%'", "    confidence: 100%\n", "t.yaml:10:17: ",
               "between 50% and 100%");
    expect_one("A", "count()", "5m", "'> 1'", "    max_instances: 0\n", "t.yaml:10:20: ", "out of range");
    expect_one("A", "count()", "5m", "'> 1'", "    keep_firing_for: soon\n", "t.yaml:10:22: ", "");
}

/* Valid lifecycle options compile into the rule, and disable early firing where the outcome
 * is no longer decided by the open slot alone. */
static void test_rules_lifecycle_options_compile(void **state)
{
    (void)state;
    tl_rules_errors errs;
    tl_program *p = load_with("t.yaml",
                              "rules:\n" RULE("A", "ratio(status == 'x')", "5m", "'> 10%'")
                              "    resolve: '<= 5%'\n    keep_firing_for: 2m\n    confidence: 0.9\n    max_instances: 50\n"
                              RULE("B", "count()", "5m", "'> 3'") RULE("C", "count()", "5m", "'> 3'")
                              "    resolve: '< 1'\n",
                              &opts0, &errs);
    if (!p)
        fail_msg("%s", errbuf);
    const tl_rule *a = find_rule(p, "A"), *b = find_rule(p, "B"), *c = find_rule(p, "C");
    assert_int_equal(a->has_resolve, 1);
    assert_int_equal(a->resolve_op, TL_OP_LE);
    assert_true(a->resolve_threshold == 0.05);
    assert_int_equal(a->keep_firing_ms, 120000);
    assert_true(fabs(a->confidence_z - 1.2816) < 1e-3); /* one-sided 90% */
    assert_int_equal(a->max_instances, 50);
    assert_int_equal(b->early, 1);
    assert_int_equal(c->early, 0);
    tl_program_destroy(p);
}


/* Threshold levels: at least one, one direction, ordered, no separate severity, no resolve. */
static void test_rules_error_threshold_levels(void **state)
{
    (void)state;
    static const char head[] = "rules:\n  - name: A\n    value: ratio(status == 'x')\n    window: 5m\n"
                               "    owner: o\n    runbook: r.md\n    summary: s\n";
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s    threshold: {warning: '> 5%%', critical: '< 10%%'}\n", head);
    assert_error(load_err(yaml, 1), "t.yaml:8:27: ", "all levels must compare the same way");
    snprintf(yaml, sizeof yaml, "%s    threshold: {warning: '> 15%%', critical: '> 10%%'}\n", head);
    assert_error(load_err(yaml, 1), "t.yaml:8:27: ", "the warning threshold must not be beyond the critical");
    snprintf(yaml, sizeof yaml, "%s    threshold: {warn: '> 5%%'}\n", head);
    assert_error(load_err(yaml, 1), "t.yaml:8:17: ", "unknown key 'warn'");
    snprintf(yaml, sizeof yaml, "%s    severity: critical\n    threshold: {warning: '> 5%%'}\n", head);
    assert_error(load_err(yaml, 1), "t.yaml:8:15: ", "severity comes from the threshold's levels");
    snprintf(yaml, sizeof yaml, "%s    threshold: {warning: '> 5%%'}\n    resolve: '< 1%%'\n", head);
    assert_error(load_err(yaml, 1), "t.yaml:9:15: ", "resolve cannot be combined");
}


/* Regular expressions: invalid ones are rejected at the position of the problem inside the
 * pattern; valid ones compile into one shared atom. */
static void test_rules_regex(void **state)
{
    (void)state;
    /* value at line 3 from col 12: `count(tool matches 'ab(c')`; the quote is at col 31, the bad ( at 34 */
    expect_one("A", "count(tool matches 'ab(c')", "5m", "'> 1'", "", "t.yaml:3:34: ",
               "invalid regular expression: missing ')'");
    expect_one("A", "count(latency_ms matches 'x')", "5m", "'> 1'", "", "t.yaml:3:18: ", "is numeric, not a string");
    tl_rules_errors errs;
    tl_program *p = load_with("t.yaml",
                              "rules:\n" RULE("A", "count(tool matches '^get_.*_status$')", "5m", "'> 1'")
                                  RULE("B", "ratio(tool matches '^get_.*_status$')", "5m", "'> 1%'"),
                              &opts0, &errs);
    if (!p)
        fail_msg("%s", errbuf);
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->natoms; i++)
        n += p->atoms[i].op == TL_A_STR_MATCH;
    assert_int_equal(n, 1);
    tl_program_destroy(p);
}


/* Warnings: valid rules likely to cry wolf load, with positioned warnings counted apart. */
static void test_rules_warnings(void **state)
{
    (void)state;
    tl_rules_errors errs;
    tl_program *p = load_with("t.yaml",
                              "rules:\n" RULE("A", "ratio(status == 'x')", "5m", "'> 10%'")
                              "    min_events: 3\n    renotify_interval: 1s\n",
                              &opts0, &errs);
    assert_non_null(p);
    assert_int_equal(errs.count, 0);
    assert_int_equal(errs.warnings, 2);
    assert_error(errbuf, "t.yaml:10:17: warning: ", "min_events is 3");
    assert_error(errbuf, "t.yaml:11:24: warning: ", "renotify_interval is shorter than the slot");
    tl_program_destroy(p);
    /* `for` longer than the 7 days of history the engine keeps is an error */
    expect_one("A", "count()", "5m", "'> 1'", "    for: 8d\n", "t.yaml:10:10: ", "'for' must be between 0 and 7d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_warnings),
        cmocka_unit_test(test_rules_regex),
        cmocka_unit_test(test_rules_error_lifecycle_options),
        cmocka_unit_test(test_rules_error_threshold_levels),
        cmocka_unit_test(test_rules_lifecycle_options_compile),
        cmocka_unit_test(test_rules_shipped_pack_compiles),
        cmocka_unit_test(test_rules_shipped_pack_file_and_dir_agree),
        cmocka_unit_test(test_rules_missing_path_reported),
        cmocka_unit_test(test_rules_plans_shared_across_thresholds),
        cmocka_unit_test(test_rules_plans_not_shared_when_they_differ),
        cmocka_unit_test(test_rules_atoms_deduplicated_across_filters),
        cmocka_unit_test(test_rules_atom_kinds),
        cmocka_unit_test(test_rules_value_units),
        cmocka_unit_test(test_rules_optional_keys),
        cmocka_unit_test(test_rules_runbook_checked),
        cmocka_unit_test(test_rules_error_unknown_key_with_suggestion),
        cmocka_unit_test(test_rules_error_unknown_field),
        cmocka_unit_test(test_rules_error_unknown_function),
        cmocka_unit_test(test_rules_error_bad_percentile),
        cmocka_unit_test(test_rules_error_p96_is_unknown),
        cmocka_unit_test(test_rules_error_aggregate_type),
        cmocka_unit_test(test_rules_error_threshold_units),
        cmocka_unit_test(test_rules_error_unreachable_threshold),
        cmocka_unit_test(test_rules_error_window_and_slot),
        cmocka_unit_test(test_rules_error_missing_required),
        cmocka_unit_test(test_rules_error_bad_severity),
        cmocka_unit_test(test_rules_error_duplicate_names),
        cmocka_unit_test(test_rules_error_template_placeholder),
        cmocka_unit_test(test_rules_error_group_by),
        cmocka_unit_test(test_rules_error_comparison_types),
        cmocka_unit_test(test_rules_error_has_misuse),
        cmocka_unit_test(test_rules_error_value_without_aggregate),
        cmocka_unit_test(test_rules_error_expression_syntax_positions),
        cmocka_unit_test(test_rules_error_yaml_syntax),
        cmocka_unit_test(test_rules_error_top_level_shape),
        cmocka_unit_test(test_rules_multiple_errors_all_reported),
        cmocka_unit_test(test_rules_error_count_is_capped_in_buffer),
        cmocka_unit_test(test_rules_layout_sanity),
        cmocka_unit_test(test_rules_out_of_memory_paths),
        cmocka_unit_test(test_rules_long_filters_not_merged),
        cmocka_unit_test(test_rules_error_column_after_yaml_escapes),
        cmocka_unit_test(test_rules_template_error_reported_with_other_errors),
        cmocka_unit_test(test_rules_error_messages_are_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
