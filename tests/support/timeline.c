/* tests/support/timeline.c - event-timeline harness for rule tests (see timeline.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"
#include "rules.h"
#include "shard.h"
#include "traces.h"
#include "timeline.h"

typedef struct pending_ev {
    int64_t ts;
    char *spec;
} pending_ev;

struct tl_tl {
    tl_program *prog;
    tl_program *retired[8]; /* programs replaced by reloads, freed at the end */
    int nretired;
    tl_shard *shard;
    tl_traces *traces;
    tl_router router;
    pending_ev *evs;
    size_t nev, cap, next;
    int sorted;
    tl_tl_alert *alerts;
    size_t nalerts, acap;
    int64_t cur_wm;
    int64_t resend_for, resend_every; /* tl_tl_resend */
};

static void sink(void *ctx, const tl_alert *a)
{
    tl_tl *t = ctx;
    if (t->nalerts == t->acap) {
        t->acap = t->acap ? t->acap * 2 : 64;
        t->alerts = realloc(t->alerts, t->acap * sizeof *t->alerts);
    }
    tl_tl_alert *x = &t->alerts[t->nalerts++];
    memset(x, 0, sizeof *x);
    snprintf(x->rule, sizeof x->rule, "%s", a->alert);
    x->state = a->state;
    x->ts = a->timestamp_ms;
    x->starts_at = a->starts_at_ms;
    x->ends_at = a->ends_at_ms;
    x->emitted_wm = t->cur_wm;
    x->value = a->value;
    x->resend = a->resend;
    size_t o = 0;
    for (uint32_t i = 0; i < a->n_labels && o < sizeof x->labels; i++)
        o += (size_t)snprintf(x->labels + o, sizeof x->labels - o, "%s%s=%s", i ? "," : "", a->label_key[i],
                              a->label_val[i]);
    memcpy(x->fingerprint, a->fingerprint, sizeof x->fingerprint);
    memcpy(x->transition_id, a->transition_id, sizeof x->transition_id);
    snprintf(x->summary, sizeof x->summary, "%s", a->summary ? a->summary : "");
    x->n_exemplars = a->n_exemplars;
    if (a->n_exemplars)
        snprintf(x->exemplar0, sizeof x->exemplar0, "%s", a->exemplar_trace_ids[0]);
}

tl_tl *tl_tl_new(const char *rules_yaml)
{
    tl_tl *t = calloc(1, sizeof *t);
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 0, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    t->prog = tl_rules_load_string("test.yaml", rules_yaml, strlen(rules_yaml), &ro, &errs);
    if (!t->prog)
        fail_msg("rules did not compile:\n%s", ebuf);
    tl_shard_opts so = {.sink = sink, .sink_ctx = t};
    t->shard = tl_shard_new(t->prog, &so);
    assert_non_null(t->shard);
    assert_int_equal(tl_router_init(&t->router, t->prog, 1), 0);
    if (t->prog->traces)
        assert_non_null(t->traces = tl_traces_new(t->prog, 10000));
    return t;
}

void tl_tl_free(tl_tl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nev; i++)
        free(t->evs[i].spec);
    free(t->evs);
    free(t->alerts);
    tl_router_fini(&t->router);
    tl_traces_destroy(t->traces);
    tl_shard_destroy(t->shard);
    tl_program_destroy(t->prog);
    for (int i = 0; i < t->nretired; i++)
        tl_program_destroy(t->retired[i]);
    free(t);
}

void tl_tl_event(tl_tl *t, int64_t ts, const char *spec)
{
    if (t->nev == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->evs = realloc(t->evs, t->cap * sizeof *t->evs);
    }
    t->evs[t->nev].ts = ts;
    t->evs[t->nev].spec = strdup(spec);
    t->nev++;
    t->sorted = 0;
}

void tl_tl_every(tl_tl *t, int64_t from, int64_t to, int64_t step, const char *spec, double bad_frac,
                 const char *bad_spec)
{
    double acc = 0;
    for (int64_t ts = from; ts < to; ts += step) {
        acc += bad_frac;
        if (bad_spec && acc >= 1.0 - 1e-9) {
            acc -= 1.0;
            char buf[1024];
            snprintf(buf, sizeof buf, "%s %s", spec, bad_spec);
            tl_tl_event(t, ts, buf);
        } else {
            tl_tl_event(t, ts, spec);
        }
    }
}

static int cmp_ev(const void *a, const void *b)
{
    const pending_ev *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Parse the notation into ev; strings point into `buf` (a private copy of spec). */
static void parse(char *buf, int64_t ts, tl_event *ev)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            fail_msg("timeline: '%s' is not key=value", tok);
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        int f;
        if (strcmp(k, "flags") == 0) {
            for (char *s2 = NULL, *fl = strtok_r((char *)v, ",", &s2); fl; fl = strtok_r(NULL, ",", &s2))
                ev->flags[ev->n_flags++] = tl_str_c(fl);
        } else if (strncmp(k, "attr.", 5) == 0) {
            ev->attr_key[ev->n_attrs] = tl_str_c(k + 5);
            ev->attr_val[ev->n_attrs++] = tl_str_c(v);
        } else if (strcmp(k, "trace") == 0) {
            tl_event_set_str(ev, TL_S_TRACE_ID, v, (uint32_t)strlen(v));
        } else if ((f = tl_str_field_lookup(k, strlen(k))) >= 0) {
            tl_event_set_str(ev, (enum tl_str_field)f, v, (uint32_t)strlen(v));
        } else if ((f = tl_num_field_lookup(k, strlen(k))) >= 0) {
            tl_event_set_num(ev, (enum tl_num_field)f, atof(v));
        } else {
            fail_msg("timeline: unknown field '%s'", k);
        }
    }
}

static void fold_synthetic(void *ctx, const tl_event *ev)
{
    tl_tl *t = ctx;
    tl_fold f;
    tl_router_route(&t->router, ev, &f);
    tl_shard_fold(t->shard, &f, UINT32_MAX);
}

static void fold_until(tl_tl *t, int64_t wm)
{
    if (!t->sorted) {
        /* only the not yet folded tail is sorted; earlier events are already in the state */
        qsort(t->evs + t->next, t->nev - t->next, sizeof *t->evs, cmp_ev);
        t->sorted = 1;
    }
    tl_event ev;
    char buf[1024];
    while (t->next < t->nev && t->evs[t->next].ts <= wm) {
        snprintf(buf, sizeof buf, "%s", t->evs[t->next].spec);
        parse(buf, t->evs[t->next].ts, &ev);
        tl_fold f;
        tl_router_route(&t->router, &ev, &f);
        tl_shard_fold(t->shard, &f, UINT32_MAX);
        if (t->traces)
            tl_traces_observe(t->traces, &ev, f.fbits, fold_synthetic, t);
        t->next++;
    }
}

void tl_tl_eval(tl_tl *t, int64_t wm)
{
    fold_until(t, wm);
    if (t->traces)
        tl_traces_expire(t->traces, wm, fold_synthetic, t);
    t->cur_wm = wm;
    tl_shard_evaluate(t->shard, wm);
}

void tl_tl_eval_ahead(tl_tl *t, int64_t fold_to, int64_t wm)
{
    fold_until(t, fold_to);
    tl_tl_eval(t, wm);
}

void tl_tl_run(tl_tl *t, int64_t from, int64_t to, int64_t step)
{
    for (int64_t wm = from; wm <= to; wm += step)
        tl_tl_eval(t, wm);
}

size_t tl_tl_nalerts(const tl_tl *t) { return t->nalerts; }
const tl_tl_alert *tl_tl_alert_at(const tl_tl *t, size_t i) { return i < t->nalerts ? &t->alerts[i] : NULL; }

const tl_tl_alert *tl_tl_find(const tl_tl *t, const char *rule, tl_alert_state state)
{
    for (size_t i = 0; i < t->nalerts; i++)
        if (strcmp(t->alerts[i].rule, rule) == 0 && t->alerts[i].state == state)
            return &t->alerts[i];
    return NULL;
}

size_t tl_tl_count(const tl_tl *t, const char *rule, tl_alert_state state)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nalerts; i++)
        n += strcmp(t->alerts[i].rule, rule) == 0 && t->alerts[i].state == state;
    return n;
}

uint64_t tl_tl_late(const tl_tl *t)
{
    tl_shard_stats s;
    tl_shard_stats_get(t->shard, &s);
    return s.late;
}

uint64_t tl_tl_capped(const tl_tl *t)
{
    tl_shard_stats s;
    tl_shard_stats_get(t->shard, &s);
    return s.capped;
}

void tl_tl_reload(tl_tl *t, const char *rules_yaml)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 0, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *np = tl_rules_load_string("test.yaml", rules_yaml, strlen(rules_yaml), &ro, &errs);
    if (!np)
        fail_msg("reloaded rules did not compile:\n%s", ebuf);
    tl_shard_opts so = {.sink = sink, .sink_ctx = t, .resend_resolved_ms = t->resend_for,
                        .resend_interval_ms = t->resend_every};
    tl_shard *ns = tl_shard_migrate(t->shard, np, &so);
    assert_non_null(ns);
    t->shard = ns;
    tl_router_fini(&t->router);
    assert_int_equal(tl_router_init(&t->router, np, 1), 0);
    tl_traces_destroy(t->traces);
    t->traces = np->traces ? tl_traces_new(np, 10000) : NULL;
    assert_true(t->nretired < 8);
    t->retired[t->nretired++] = t->prog;
    t->prog = np;
}

void tl_tl_resend(tl_tl *t, int64_t for_ms, int64_t every_ms)
{
    assert_int_equal(t->next, 0); /* before anything is folded: the shard starts over */
    t->resend_for = for_ms;
    t->resend_every = every_ms;
    tl_shard_opts so = {.sink = sink, .sink_ctx = t, .resend_resolved_ms = for_ms, .resend_interval_ms = every_ms};
    tl_shard_destroy(t->shard);
    t->shard = tl_shard_new(t->prog, &so);
    assert_non_null(t->shard);
}

uint64_t tl_tl_series(const tl_tl *t)
{
    tl_shard_stats s;
    tl_shard_stats_get(t->shard, &s);
    return s.series;
}
