/* tests/unit/test_combine.c - pre-aggregation for remote owners (combine.c) gives the owner
 * exactly the state that folding every event there would.
 *
 * Each case runs the same events twice: once folded straight into shard A, once through a
 * combiner whose MERGE records (and FOLD fallbacks) are applied to shard B, flushed at every
 * "batch" as a worker does before its MARK. Both shards are evaluated at the same watermarks;
 * their alerts must be identical transition for transition: state, time, value, labels,
 * identity and example traces. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alertlog.h"
#include "combine.h"
#include "fleet.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "tl_test.h"
#include "xfer.h"

#define T0 (1800000000000LL)
#define MIN (60 * 1000LL)

/* ---- the record channel: a growing buffer standing in for the ring -------------------------- */

typedef struct chan {
    char *buf;
    size_t used, cap;
    size_t records, merges;
} chan;

static void *reserve(void *ctx, size_t n)
{
    chan *c = ctx;
    n = (n + 7) & ~(size_t)7;
    if (c->used + n + 8 > c->cap) {
        c->cap = (c->used + n + 8) * 2;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    memcpy(c->buf + c->used, &n, 8); /* length prefix, as the ring keeps one */
    void *p = c->buf + c->used + 8;
    c->used += n + 8;
    c->records++;
    return p;
}

/* Apply every record to the owner's shard, in order, and empty the channel. */
static void deliver(chan *c, tl_shard *owner, uint32_t filter_words, uint32_t ngroups)
{
    tl_fold_key *keys = calloc(ngroups + 1, sizeof *keys);
    for (size_t o = 0; o < c->used;) {
        size_t n;
        memcpy(&n, c->buf + o, 8);
        const void *rec = c->buf + o + 8;
        c->merges += tl_xfer_type(rec) == TL_XFER_MERGE;
        assert_int_equal(tl_xfer_apply(rec, owner, keys, 1, filter_words), 0);
        o += n + 8;
    }
    c->used = 0;
    free(keys);
}

/* ---- the two runs ---------------------------------------------------------------------------- */

typedef struct run_opts {
    size_t arena;     /* combiner arena (0: default) */
    uint32_t batch;   /* events per flush */
    int two_streams;  /* interleave a second fleet running minutes ahead, as two partitions */
    int any_exemplars; /* example traces may differ (see test_combine_streams_minutes_apart) */
    size_t events;
} run_opts;

typedef struct run_result {
    size_t taken, shipped, merges, records;
} run_result;

static void compare_runs(tl_program *p, const run_opts *o, run_result *res)
{
    tl_alog la = {.with_ex = !o->any_exemplars}, lb = {.with_ex = !o->any_exemplars};
    /* both shards believe they are owner 1 of 2, so max_instances splits the same way */
    tl_shard *a = tl_shard_new(p, &(tl_shard_opts){.sink = tl_alog_sink, .sink_ctx = &la, .nowners = 2});
    tl_shard *b = tl_shard_new(p, &(tl_shard_opts){.sink = tl_alog_sink, .sink_ctx = &lb, .nowners = 2});
    tl_combiner *cb = tl_combiner_new(p, o->arena);
    tl_router r;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(cb);
    assert_int_equal(tl_router_init(&r, p, 1), 0);
    tl_fleet *f1 = tl_fleet_new(&(tl_fleet_opts){.seed = 7, .start_ms = T0, .traces_per_sec = 30,
                                                 .scenario = TL_FLEET_SCENARIO_DEMO});
    tl_fleet *f2 = tl_fleet_new(&(tl_fleet_opts){.seed = 8, .start_ms = T0 + 3 * MIN, .traces_per_sec = 15,
                                                 .scenario = TL_FLEET_SCENARIO_DEMO});
    chan ch = {0};
    memset(res, 0, sizeof *res);
    int64_t t1 = INT64_MIN, t2 = INT64_MIN;
    tl_event ev;
    for (size_t i = 0; i < o->events; i++) {
        int second = o->two_streams && i % 3 == 2;
        tl_fleet_next(second ? f2 : f1, &ev);
        if (second)
            t2 = ev.ts_ms;
        else
            t1 = ev.ts_ms;
        tl_fold fo;
        tl_router_route(&r, &ev, &fo);
        tl_shard_fold(a, &fo, UINT32_MAX);
        /* B's copy: every key is remote (owner 1), through the combiner or as FOLD */
        int ship = 0;
        for (uint32_t k = 0; k < fo.nkeys; k++) {
            fo.keys[k].owner = 1;
            if (tl_combiner_add(cb, &fo, &fo.keys[k], reserve, &ch) == 0) {
                fo.keys[k].owner = TL_OWNER_NONE;
                res->taken++;
            } else {
                ship = 1;
                res->shipped++;
            }
        }
        if (ship)
            tl_xfer_fold_encode(reserve(&ch, tl_xfer_fold_size(&fo, 1, p->filter_words)), &fo, 1, p->filter_words);
        if ((i + 1) % o->batch == 0 || i + 1 == o->events) {
            tl_combiner_flush(cb, reserve, &ch);
            assert_false(tl_combiner_pending(cb));
            res->records += ch.records;
            ch.records = 0;
            deliver(&ch, b, p->filter_words, p->ngroups);
            int64_t wm = o->two_streams ? (t1 < t2 ? t1 : t2) : t1;
            if (wm != INT64_MIN) {
                tl_shard_set_watermark(a, wm);
                tl_shard_set_watermark(b, wm);
                tl_shard_evaluate(a, wm);
                tl_shard_evaluate(b, wm);
            }
        }
    }
    res->merges = ch.merges;
    tl_shard_stats sa, sb;
    tl_shard_stats_get(a, &sa);
    tl_shard_stats_get(b, &sb);
    assert_true(la.n > o->events / 1000); /* the probes re-notify: the comparison is not vacuous */
    /* the same transitions; within one evaluation, the order of series is the order of their
     * records in the shard's table, which differs (B creates them in record order) */
    tl_alog_assert_same(&la, &lb, "folding directly", "through the combiner");
    assert_int_equal(sa.folded, sb.folded);
    assert_int_equal(sa.late, sb.late);
    assert_int_equal(sa.series, sb.series);
    tl_fleet_destroy(f1);
    tl_fleet_destroy(f2);
    free(ch.buf);
    tl_router_fini(&r);
    tl_combiner_destroy(cb);
    tl_shard_destroy(a);
    tl_shard_destroy(b);
    tl_alog_free(&la);
    tl_alog_free(&lb);
}

/* The whole example pack, one stream, batches of 1024: the same alerts, and far fewer records
 * than contributions. */
static void test_combine_same_alerts_as_direct_folding(void **state)
{
    (void)state;
    tl_program *p = tl_load_pack_with_probes(NULL);
    run_result res;
    compare_runs(p, &(run_opts){.batch = 1024, .events = 300000}, &res);
    assert_int_equal(res.shipped, 0);
    assert_true(res.taken > 0);
    assert_true(res.records * 4 < res.taken); /* a record per (series, plan) and batch */
    tl_program_destroy(p);
}

/* Two streams minutes apart in one batch (two partitions, one running ahead): a delta holds
 * several epochs per plan and sends early when a fifth one arrives; still the same alerts.
 * Only the example traces may differ: which of the largest values a window keeps depends on
 * the order values arrive in when old ones go stale meanwhile (as it already does between
 * workers' rings), and pre-aggregation changes that order. */
static void test_combine_streams_minutes_apart(void **state)
{
    (void)state;
    tl_program *p = tl_load_pack_with_probes(NULL);
    run_result res;
    compare_runs(p, &(run_opts){.batch = 4096, .events = 200000, .two_streams = 1, .any_exemplars = 1}, &res);
    assert_int_equal(res.shipped, 0);
    tl_program_destroy(p);
}

/* A small arena: series that do not fit go as FOLD records, the arena empties at flushes, and
 * the owner's state is still exact. */
static void test_combine_small_arena_falls_back(void **state)
{
    (void)state;
    tl_program *p = tl_load_pack_with_probes(NULL);
    run_result res;
    compare_runs(p, &(run_opts){.arena = 24 * 1024, .batch = 512, .events = 100000}, &res);
    assert_true(res.shipped > 0);
    assert_true(res.taken > 0);
    tl_program_destroy(p);
}

/* Groups with a distinct-count plan are not combined (HyperLogLog deltas are not built). */
static void test_combine_distinct_groups_go_as_folds(void **state)
{
    (void)state;
    static const char extra[] =
        "  - name: ManyUsersSeeErrors\n"
        "    filter: kind == \"request\" and status == \"error\"\n"
        "    group_by: [service, model]\n"
        "    value: distinct(trace_id)\n"
        "    window: 5m\n"
        "    slot: 10s\n"
        "    threshold: \"> 1000000\"\n"
        "    severity: warning\n"
        "    owner: t\n"
        "    runbook: r.md\n"
        "    summary: \"{{value}}\"\n";
    tl_program *p = tl_load_pack_with_probes(extra);
    run_result res;
    compare_runs(p, &(run_opts){.batch = 1024, .events = 50000}, &res);
    assert_true(res.shipped > 0);
    assert_true(res.taken > 0);
    tl_program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combine_same_alerts_as_direct_folding),
        cmocka_unit_test(test_combine_streams_minutes_apart),
        cmocka_unit_test(test_combine_small_arena_falls_back),
        cmocka_unit_test(test_combine_distinct_groups_go_as_folds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
