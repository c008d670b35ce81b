/* tests/unit/test_window.c - slot rings against an exact reference model.
 *
 * The reference is a plain array of every accepted event; a window read over k slots at
 * epoch `now` must equal a filter of that array by epoch range (now - k, now]. Reads are
 * compared only where the ring can still hold the whole range (now - k >= newest epoch -
 * nslots), which is every read the shard makes. Quantiles of SKETCH plans are compared with
 * the exact quantile of the same values within the sketch's relative error bound.
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

#include "sketch.h"
#include "tl_test.h"
#include "window.h"

/* ---- helpers --------------------------------------------------------------------------- */

static tl_plan make_plan(tl_plan_kind kind, int64_t width_ms, uint32_t nslots, int32_t pred)
{
    tl_plan p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.pred = pred;
    p.field = TL_N_LATENCY_MS;
    p.width_ms = width_ms;
    p.nslots = nslots;
    p.size = tl_window_state_size(kind, nslots);
    return p;
}

static tl_planstate *new_state(const tl_plan *p)
{
    tl_planstate *st = malloc(p->size);
    assert_non_null(st);
    tl_window_init(p, st);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rand_normal(tl_test_rng *rng)
{
    double u1 = tl_test_rand01(rng), u2 = tl_test_rand01(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Several shapes, all inside the sketch's exact range (|v| in [1e-9, 1e12] or 0). */
static double draw_value(tl_test_rng *rng)
{
    switch (tl_test_rand(rng) % 5) {
    case 0: /* small integers: many ties */
        return (double)(1 + tl_test_rand(rng) % 100);
    case 1: /* latency-like lognormal, median 300 */
        return exp(log(300.0) + 1.2 * rand_normal(rng));
    case 2: /* exponential, mean 20 */
        return -20.0 * log(1.0 - tl_test_rand01(rng));
    case 3: /* log-uniform 1e-4 .. 1e8 */
        return pow(10.0, -4.0 + 12.0 * tl_test_rand01(rng));
    default: { /* zeros and negatives */
        uint64_t r = tl_test_rand(rng);
        if (r % 4 == 0)
            return 0.0;
        double m = pow(10.0, -2.0 + 6.0 * tl_test_rand01(rng));
        return (r >> 9) & 1 ? -m : m;
    }
    }
}

typedef struct ref_ev {
    int64_t ts, epoch;
    int64_t arrival_epoch; /* epoch of the watermark when it arrived */
    int hit, has_value;
    double v;
} ref_ev;

typedef struct ref_model {
    ref_ev *ev;
    size_t n, cap;
    int64_t max_epoch;
} ref_model;

/* Exact aggregate over epochs (now - k, now]. Events are appended in arrival order and the
 * watermark only advances, so every event before index i has an epoch <= arrival_epoch[i] + 1
 * (the test never sends events more than one slot ahead): the backward scan stops there. */
static void ref_read(const ref_model *m, int64_t now, uint32_t k, tl_winagg *out, double *abs_sum, double *vals,
                     size_t *nvals)
{
    memset(out, 0, sizeof *out);
    out->min = INFINITY;
    out->max = -INFINITY;
    *abs_sum = 0;
    if (nvals)
        *nvals = 0;
    int64_t lo = now - (int64_t)k;
    for (size_t i = m->n; i-- > 0;) {
        const ref_ev *e = &m->ev[i];
        if (e->epoch > lo && e->epoch <= now) {
            out->n++;
            out->hits += e->hit ? 1u : 0u;
            if (e->has_value) {
                out->nv++;
                out->sum += e->v;
                *abs_sum += fabs(e->v);
                if (e->v < out->min)
                    out->min = e->v;
                if (e->v > out->max)
                    out->max = e->v;
                if (vals)
                    vals[(*nvals)++] = e->v;
            }
        }
        if (e->arrival_epoch + 1 <= lo)
            break;
    }
}

static void assert_agg_equal(const tl_plan *p, const tl_winagg *got, const tl_winagg *want, double abs_sum,
                             int64_t now, uint32_t k)
{
    if (got->n != want->n)
        fail_msg("now=%lld k=%u: n %llu, expected %llu", (long long)now, k, (unsigned long long)got->n,
                 (unsigned long long)want->n);
    if (p->kind == TL_PLAN_COUNTER) {
        if (got->hits != want->hits)
            fail_msg("now=%lld k=%u: hits %llu, expected %llu", (long long)now, k, (unsigned long long)got->hits,
                     (unsigned long long)want->hits);
        return;
    }
    if (got->nv != want->nv)
        fail_msg("now=%lld k=%u: nv %llu, expected %llu", (long long)now, k, (unsigned long long)got->nv,
                 (unsigned long long)want->nv);
    /* Slots sum in a different order than the reference; with mixed signs the relative error
     * of the result is bounded by the magnitude of the terms, not of the result. */
    double tol = 1e-9 * (abs_sum > 1e-300 ? abs_sum : 1e-300);
    if (fabs(got->sum - want->sum) > tol)
        fail_msg("now=%lld k=%u: sum %.17g, expected %.17g", (long long)now, k, got->sum, want->sum);
    if (got->min != want->min || got->max != want->max)
        fail_msg("now=%lld k=%u: min/max %.17g/%.17g, expected %.17g/%.17g", (long long)now, k, got->min, got->max,
                 want->min, want->max);
}

static void assert_within_alpha(double est, double exact, double q)
{
    if (exact == 0.0) {
        if (est != 0.0)
            fail_msg("q=%g: estimate %.17g for exact 0", q, est);
        return;
    }
    double rel = fabs(est - exact) / fabs(exact);
    if (rel > TL_SKETCH_ALPHA + 1e-9)
        fail_msg("q=%g: estimate %.17g for exact %.17g: relative error %g", q, est, exact, rel);
}

static const double qs[] = {0, 0.1, 0.5, 0.9, 0.95, 0.99, 1};

/* ---- randomized comparison with the reference ------------------------------------------ */

/* Drive one plan as the shard does: a watermark that only advances, low_epoch from the
 * watermark minus the lateness, events up to lateness + 2 slots behind the watermark (the
 * oldest ones are late) and up to one slot ahead. */
static void run_reference(tl_plan_kind kind, int64_t base_ms, uint64_t seed)
{
    const int64_t width = 1000, lateness = 3000;
    const uint32_t W = 10, L = (uint32_t)(lateness / width), nslots = W + L + 2;
    const size_t nevents = 20000;
    tl_plan p = make_plan(kind, width, nslots, kind == TL_PLAN_COUNTER ? 0 : -1);
    tl_planstate *st = new_state(&p);
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_sketch_acc acc;
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    ref_model m = {.cap = nevents, .max_epoch = INT64_MIN};
    m.ev = calloc(nevents, sizeof *m.ev);
    double *vals = malloc(nevents * sizeof *vals);
    assert_non_null(m.ev);
    assert_non_null(vals);
    tl_test_rng rng = {seed};
    int64_t wm = base_ms;
    size_t late = 0, reads = 0, sketch_reads = 0;
    static const uint32_t ks[] = {1, 2, 5, 10};

    for (size_t i = 0; i < nevents; i++) {
        wm += (int64_t)(tl_test_rand(&rng) % 250);
        int64_t wm_epoch = tl_epoch(wm, width);
        int64_t low_epoch = tl_epoch(wm - lateness, width);
        /* ts in [wm - lateness - 2 * width, wm + width) */
        int64_t span = lateness + 3 * width;
        int64_t ts = wm - lateness - 2 * width + (int64_t)(tl_test_rand(&rng) % (uint64_t)span);
        if (tl_epoch(ts, width) > wm_epoch + 1)
            ts = (wm_epoch + 1) * width;
        tl_contrib c = {.ts = ts};
        c.hit = tl_test_rand(&rng) % 10 < 3;
        c.has_value = tl_test_rand(&rng) % 100 < 85;
        c.value = c.has_value ? draw_value(&rng) : 0.0;
        int64_t e = tl_epoch(ts, width);
        int expect_rc = e < low_epoch ? 1 : 0;
        int rc = tl_window_add(&p, st, pool, &c, low_epoch);
        if (rc != expect_rc)
            fail_msg("event %zu ts=%lld epoch=%lld low_epoch=%lld: rc %d, expected %d", i, (long long)ts,
                     (long long)e, (long long)low_epoch, rc, expect_rc);
        if (rc == 0) {
            ref_ev *r = &m.ev[m.n++];
            r->ts = ts;
            r->epoch = e;
            r->arrival_epoch = wm_epoch;
            r->hit = c.hit;
            r->has_value = c.has_value;
            r->v = c.value;
            if (e > m.max_epoch)
                m.max_epoch = e;
        } else {
            late++;
        }

        if (i % 97 != 96)
            continue;
        for (int64_t now = wm_epoch - (int64_t)L - 1; now <= wm_epoch + 2; now++) {
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                uint32_t k = ks[ki];
                if (now - (int64_t)k < m.max_epoch - (int64_t)nslots)
                    continue; /* the ring cannot hold that range any more */
                tl_winagg got, want;
                double abs_sum;
                int want_q = kind == TL_PLAN_SKETCH && (k == W || k == 2) && now == wm_epoch;
                size_t nvals = 0;
                ref_read(&m, now, k, &want, &abs_sum, want_q ? vals : NULL, &nvals);
                tl_window_read(&p, st, now, k, &got);
                assert_agg_equal(&p, &got, &want, abs_sum, now, k);
                reads++;
                if (!want_q)
                    continue;
                tl_sketch_acc_reset(&acc);
                tl_window_read_sketch(&p, st, now, k, pool, &acc);
                assert_int_equal(acc.total, want.nv);
                if (!nvals) {
                    assert_true(isnan(tl_sketch_acc_quantile(&acc, 0.5)));
                    continue;
                }
                qsort(vals, nvals, sizeof *vals, cmp_double);
                for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
                    size_t rank = (size_t)floor(qs[qi] * (double)(nvals - 1));
                    assert_within_alpha(tl_sketch_acc_quantile(&acc, qs[qi]), vals[rank], qs[qi]);
                }
                sketch_reads++;
            }
        }
    }
    /* The stream must have exercised both paths and many reads. */
    assert_true(late > 100);
    assert_true(m.n > nevents / 2);
    assert_true(reads > 1000);
    if (kind == TL_PLAN_SKETCH)
        assert_true(sketch_reads > 200);

    tl_window_fini(&p, st, pool);
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    free(vals);
    free(m.ev);
    free(st);
    tl_sketch_acc_fini(&acc);
    tl_sketch_pool_destroy(pool);
}

static void test_window_counter_matches_reference(void **state)
{
    (void)state;
    run_reference(TL_PLAN_COUNTER, 1700000000000LL, 0x1001);
    run_reference(TL_PLAN_COUNTER, -60000, 0x1002); /* timestamps crossing zero */
}

static void test_window_moments_match_reference(void **state)
{
    (void)state;
    run_reference(TL_PLAN_MOMENTS, 1700000000000LL, 0x2001);
    run_reference(TL_PLAN_MOMENTS, -60000, 0x2002);
}

static void test_window_sketch_matches_reference(void **state)
{
    (void)state;
    run_reference(TL_PLAN_SKETCH, 1700000000000LL, 0x3001);
    run_reference(TL_PLAN_SKETCH, -60000, 0x3002);
}

/* ---- rejection --------------------------------------------------------------------------- */

/* An event older than low_epoch is rejected with 1 and leaves no trace (count, value,
 * exemplar); one exactly at low_epoch is accepted. */
static void test_window_late_event_rejected(void **state)
{
    (void)state;
    static const tl_plan_kind kinds[] = {TL_PLAN_COUNTER, TL_PLAN_MOMENTS, TL_PLAN_SKETCH};
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    for (size_t ki = 0; ki < 3; ki++) {
        tl_plan p = make_plan(kinds[ki], 1000, 8, -1);
        tl_planstate *st = new_state(&p);
        tl_contrib c = {.ts = 4999, .hit = 1, .has_value = 1, .value = 1e6, .trace_id = TL_STR_LIT("late")};
        assert_int_equal(tl_window_add(&p, st, pool, &c, 5), 1);
        tl_winagg a;
        tl_window_read(&p, st, 4, 8, &a);
        assert_int_equal(a.n, 0);
        assert_int_equal(a.nv, 0);
        assert_true(a.min == INFINITY && a.max == -INFINITY);
        const char *ids[TL_EXEMPLARS];
        assert_int_equal(tl_window_exemplars(&p, st, INT64_MIN + 1, INT64_MAX, ids, TL_EXEMPLARS), 0);
        assert_int_equal(tl_window_live(&p, st, INT64_MIN + 1), 0);
        if (p.kind == TL_PLAN_SKETCH)
            assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);

        c.ts = 5000;
        c.value = 2.5;
        c.trace_id = TL_STR_LIT("ok");
        assert_int_equal(tl_window_add(&p, st, pool, &c, 5), 0);
        tl_window_read(&p, st, 5, 1, &a);
        assert_int_equal(a.n, 1);
        if (p.kind != TL_PLAN_COUNTER) {
            assert_int_equal(a.nv, 1);
            assert_true(a.sum == 2.5 && a.min == 2.5 && a.max == 2.5);
        }
        tl_window_fini(&p, st, pool);
        free(st);
    }
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    tl_sketch_pool_destroy(pool);
}

/* A slot already holding a newer epoch rejects an event for an older epoch that maps to the
 * same slot (it fell out of the ring), even if low_epoch would allow it; the slot keeps its
 * newer contents. */
static void test_window_older_than_slot_rejected(void **state)
{
    (void)state;
    static const tl_plan_kind kinds[] = {TL_PLAN_COUNTER, TL_PLAN_MOMENTS, TL_PLAN_SKETCH};
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    tl_sketch_acc acc;
    assert_non_null(pool);
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    for (size_t ki = 0; ki < 3; ki++) {
        const uint32_t nslots = 6;
        tl_plan p = make_plan(kinds[ki], 100, nslots, 0);
        tl_planstate *st = new_state(&p);
        tl_contrib c = {.ts = (int64_t)(nslots + 1) * 100 + 5, .hit = 1, .has_value = 1, .value = 7};
        assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0); /* epoch 7 -> slot 1 */
        c.ts = 1 * 100 + 50;                                       /* epoch 1 -> slot 1 */
        c.value = 1000;
        assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 1);
        tl_winagg a;
        tl_window_read(&p, st, 7, 1, &a);
        assert_int_equal(a.n, 1);
        if (p.kind == TL_PLAN_COUNTER) {
            assert_int_equal(a.hits, 1);
        } else {
            assert_int_equal(a.nv, 1);
            assert_true(a.sum == 7 && a.max == 7);
        }
        tl_window_read(&p, st, 1, 1, &a);
        assert_int_equal(a.n, 0);
        if (p.kind == TL_PLAN_SKETCH) {
            tl_sketch_acc_reset(&acc);
            tl_window_read_sketch(&p, st, 7, nslots, pool, &acc);
            assert_int_equal(acc.total, 1);
            assert_within_alpha(tl_sketch_acc_quantile(&acc, 1), 7, 1);
        }
        /* An epoch newer than the slot's resets it. */
        c.ts = (int64_t)(2 * nslots + 1) * 100; /* epoch 13 -> slot 1 */
        c.value = 3;
        assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0);
        tl_window_read(&p, st, 13, nslots, &a);
        assert_int_equal(a.n, 1);
        if (p.kind != TL_PLAN_COUNTER)
            assert_true(a.sum == 3 && a.min == 3 && a.max == 3);
        if (p.kind == TL_PLAN_SKETCH) {
            tl_sketch_acc_reset(&acc);
            tl_window_read_sketch(&p, st, 13, nslots, pool, &acc);
            assert_int_equal(acc.total, 1);
        }
        tl_window_fini(&p, st, pool);
        free(st);
    }
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    tl_sketch_acc_fini(&acc);
    tl_sketch_pool_destroy(pool);
}

/* A full sketch pool still folds the counts and moments; the value is only not sketched. */
static void test_window_sketch_pool_full(void **state)
{
    (void)state;
    tl_sketch_pool *pool = tl_sketch_pool_new(8); /* smaller than one chunk: nothing fits */
    assert_non_null(pool);
    tl_plan p = make_plan(TL_PLAN_SKETCH, 1000, 4, -1);
    tl_planstate *st = new_state(&p);
    tl_contrib c = {.ts = 1500, .has_value = 1, .value = 42};
    assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 2);
    tl_winagg a;
    tl_window_read(&p, st, 1, 1, &a);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.nv, 1);
    assert_true(a.sum == 42 && a.min == 42 && a.max == 42);
    tl_window_fini(&p, st, pool);
    free(st);
    tl_sketch_pool_destroy(pool);
}

/* ---- live / expire ----------------------------------------------------------------------- */

static void test_window_live(void **state)
{
    (void)state;
    static const tl_plan_kind kinds[] = {TL_PLAN_COUNTER, TL_PLAN_MOMENTS, TL_PLAN_SKETCH};
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    for (size_t ki = 0; ki < 3; ki++) {
        tl_plan p = make_plan(kinds[ki], 1000, 5, -1);
        tl_planstate *st = new_state(&p);
        assert_int_equal(tl_window_live(&p, st, INT64_MIN), 0); /* fresh slots hold nothing */
        tl_contrib c = {.ts = 3500}; /* no value: still an event */
        assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0);
        c.ts = 5200;
        assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0);
        assert_int_equal(tl_window_live(&p, st, 0), 1);
        assert_int_equal(tl_window_live(&p, st, 5), 1);
        assert_int_equal(tl_window_live(&p, st, 6), 0);
        tl_window_fini(&p, st, pool);
        free(st);
    }
    tl_sketch_pool_destroy(pool);
}

/* Expiring releases the sketches of slots older than min_epoch and nothing else: reads of
 * the remaining slots are unchanged, pool memory goes back. Counts are kept (expire only
 * concerns sketch memory). */
static void test_window_expire(void **state)
{
    (void)state;
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    tl_sketch_acc acc;
    assert_non_null(pool);
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    tl_plan p = make_plan(TL_PLAN_SKETCH, 1000, 10, -1);
    tl_planstate *st = new_state(&p);
    tl_test_rng rng = {77};
    double vals[8][50];
    for (int e = 0; e < 8; e++) {
        for (int i = 0; i < 50; i++) {
            tl_contrib c = {.ts = e * 1000 + i * 10, .has_value = 1, .value = vals[e][i] = draw_value(&rng)};
            assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0);
        }
    }
    size_t before = tl_sketch_pool_bytes_used(pool);
    assert_true(before > 0);
    tl_window_expire(&p, st, 4, pool);
    size_t after = tl_sketch_pool_bytes_used(pool);
    assert_true(after < before && after > 0);

    tl_sketch_acc_reset(&acc);
    tl_window_read_sketch(&p, st, 3, 4, pool, &acc); /* epochs 0..3: released */
    assert_int_equal(acc.total, 0);
    tl_sketch_acc_reset(&acc);
    tl_window_read_sketch(&p, st, 7, 4, pool, &acc); /* epochs 4..7: intact */
    assert_int_equal(acc.total, 200);
    double sorted[200];
    memcpy(sorted, vals[4], sizeof sorted);
    qsort(sorted, 200, sizeof(double), cmp_double);
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++)
        assert_within_alpha(tl_sketch_acc_quantile(&acc, qs[qi]), sorted[(size_t)floor(qs[qi] * 199)], qs[qi]);
    tl_winagg a;
    tl_window_read(&p, st, 7, 4, &a);
    assert_int_equal(a.n, 200);
    /* expired slots are forgotten (no read looks that far back): epochs 0..3 no longer count */
    tl_window_read(&p, st, 7, 8, &a);
    assert_int_equal(a.n, 200);
    assert_int_equal(st->live, 0xf0); /* places 4..7 */

    tl_window_expire(&p, st, 100, pool);
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);

    /* no-op for plans without sketches */
    tl_plan pm = make_plan(TL_PLAN_MOMENTS, 1000, 10, -1);
    tl_planstate *sm = new_state(&pm);
    tl_contrib c = {.ts = 500, .has_value = 1, .value = 9};
    assert_int_equal(tl_window_add(&pm, sm, pool, &c, 0), 0);
    tl_window_expire(&pm, sm, 0, pool); /* epoch 0 is not older than 0: kept */
    tl_window_read(&pm, sm, 0, 1, &a);
    assert_int_equal(a.nv, 1);
    assert_true(a.sum == 9);
    tl_window_expire(&pm, sm, 1, pool); /* now it is: forgotten, whatever the kind */
    tl_window_read(&pm, sm, 0, 1, &a);
    assert_int_equal(a.n, 0);
    assert_int_equal(sm->live, 0);

    tl_window_fini(&p, st, pool);
    tl_window_fini(&pm, sm, pool);
    free(st);
    free(sm);
    tl_sketch_acc_fini(&acc);
    tl_sketch_pool_destroy(pool);
}

/* ---- exemplars --------------------------------------------------------------------------- */

/* The ids are views into the plan state (not NUL-terminated); the length is in the exemplar,
 * which is how the shard reads them too. */
static void assert_ids(const char **ids, uint32_t n, const char *const *want, uint32_t nwant)
{
    if (n != nwant)
        fail_msg("%u exemplars, expected %u", n, nwant);
    for (uint32_t i = 0; i < n; i++) {
        const tl_exemplar *ex = (const tl_exemplar *)(ids[i] - offsetof(tl_exemplar, id));
        if (ex->len != strlen(want[i]) || memcmp(ids[i], want[i], ex->len) != 0)
            fail_msg("exemplar %u is '%.*s', expected '%s'", i, (int)ex->len, ids[i], want[i]);
    }
}

static void add_ex(const tl_plan *p, tl_planstate *st, int64_t ts, int hit, int has_value, double v, const char *id,
                   int64_t low_epoch)
{
    tl_contrib c = {.ts = ts, .hit = hit, .has_value = has_value, .value = v, .trace_id = tl_str_c(id)};
    assert_int_equal(tl_window_add(p, st, NULL, &c, low_epoch), 0);
}

/* Counter with a numerator: the latest hits, newest first; non-hits and events without a
 * trace id never become exemplars; `since` and `max` cut the list. */
/* Reads of rings of up to 64 slots visit only the slots marked in `live`. Whatever the mix of
 * folds (in order, late, too old for the ring), merges and expiries, every read must equal
 * the read of the same state with every slot marked, which is the plain walk of the window. */
static void check_mask_reads(const tl_plan *p, tl_planstate *st, tl_planstate *all, tl_sketch_pool *pool,
                             tl_sketch_acc *a1, tl_sketch_acc *a2, int64_t now, uint32_t k)
{
    memcpy(all, st, p->size);
    all->live = p->nslots == 64 ? ~0ull : (1ull << p->nslots) - 1;
    tl_winagg x, y;
    tl_window_read(p, st, now, k, &x);
    tl_window_read(p, all, now, k, &y);
    assert_int_equal(x.n, y.n);
    assert_int_equal(x.hits, y.hits);
    assert_int_equal(x.nv, y.nv);
    assert_true(x.sum == y.sum);
    assert_true(x.min == y.min && x.max == y.max);
    if (p->kind == TL_PLAN_SKETCH) {
        tl_sketch_acc_reset(a1);
        tl_sketch_acc_reset(a2);
        tl_window_read_sketch(p, st, now, k, pool, a1);
        tl_window_read_sketch(p, all, now, k, pool, a2);
        assert_int_equal(a1->total, a2->total);
    }
    assert_int_equal(tl_window_live(p, st, now - (int64_t)p->nslots + 1),
                     tl_window_live(p, all, now - (int64_t)p->nslots + 1));
}

static void test_window_live_mask_reads_equal_full_walk(void **state)
{
    (void)state;
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    tl_sketch_acc a1, a2;
    assert_int_equal(tl_sketch_acc_init(&a1), 0);
    assert_int_equal(tl_sketch_acc_init(&a2), 0);
    const tl_plan_kind kinds[] = {TL_PLAN_COUNTER, TL_PLAN_MOMENTS, TL_PLAN_SKETCH};
    const uint32_t rings[] = {7, 33, 64};
    for (size_t ki = 0; ki < 3; ki++)
        for (size_t ri = 0; ri < 3; ri++) {
            tl_plan p = make_plan(kinds[ki], 1000, rings[ri], kinds[ki] == TL_PLAN_COUNTER ? 0 : -1);
            tl_planstate *st = new_state(&p), *all = malloc(p.size);
            assert_non_null(all);
            tl_test_rng rng = {1000 + ki * 10 + ri};
            int64_t now = 0;
            for (int step = 0; step < 4000; step++) {
                uint32_t r = tl_test_rand(&rng);
                now += r % 3 == 0 ? (int64_t)(r >> 8) % 3 : 0;     /* time moves on, sometimes by two */
                if (r % 97 == 0)
                    now += (int64_t)rings[ri] + (r >> 4) % 40; /* a gap longer than the ring */
                int64_t e = now - (int64_t)((r >> 12) % (rings[ri] + 3)); /* late, some too old */
                tl_contrib c = {.ts = e * 1000 + (int64_t)(r >> 20) % 1000, .hit = (r >> 5) & 1, .has_value = 1,
                                .value = (double)((r >> 7) % 500)};
                tl_window_add(&p, st, pool, &c, INT64_MIN);
                if (r % 11 == 0)
                    tl_window_expire(&p, st, now - (int64_t)rings[ri] + 1, pool);
                uint32_t k = 1 + (r >> 16) % rings[ri];
                check_mask_reads(&p, st, all, pool, &a1, &a2, now, k);
                check_mask_reads(&p, st, all, pool, &a1, &a2, now, rings[ri]);
            }
            tl_window_fini(&p, st, pool);
            free(st);
            free(all);
        }
    tl_sketch_acc_fini(&a1);
    tl_sketch_acc_fini(&a2);
    tl_sketch_pool_destroy(pool);
}

static void test_window_exemplars_counter_latest_hits(void **state)
{
    (void)state;
    tl_plan p = make_plan(TL_PLAN_COUNTER, 1000, 8, 3);
    tl_planstate *st = new_state(&p);
    const char *ids[TL_EXEMPLARS];
    assert_int_equal(tl_window_exemplars(&p, st, INT64_MIN + 1, INT64_MAX, ids, TL_EXEMPLARS), 0);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "t%d", i);
        add_ex(&p, st, 1000 + i * 300, i % 2, 0, 0, id, 0);
    }
    add_ex(&p, st, 5000, 1, 0, 0, "", 0); /* a hit without a trace id */
    static const char *const w_all[] = {"t9", "t7", "t5", "t3"};
    assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), w_all, 4);
    static const char *const w_since[] = {"t9", "t7", "t5"};
    assert_ids(ids, tl_window_exemplars(&p, st, 1000 + 5 * 300, INT64_MAX, ids, TL_EXEMPLARS), w_since, 3);
    assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, 2), w_all, 2);
    assert_int_equal(tl_window_exemplars(&p, st, 1000 + 9 * 300 + 1, INT64_MAX, ids, TL_EXEMPLARS), 0);

    /* Ids are kept with their exact length; longer than TL_EXEMPLAR_ID_MAX they are cut. */
    add_ex(&p, st, 6000, 1, 0, 0, "0123456789abcdef0123456789abcdef01234567", 0); /* 40 bytes */
    add_ex(&p, st, 6001, 1, 0, 0, "a-much-longer-trace-id-beyond-the-limit-of-forty-bytes", 0);
    add_ex(&p, st, 6002, 1, 0, 0, "xy", 0);
    static const char *const w_trunc[] = {"xy", "0123456789abcdef0123456789abcdef01234567"};
    const char *two[2];
    assert_int_equal(tl_window_exemplars(&p, st, 6000, INT64_MAX, ids, TL_EXEMPLARS), 3);
    assert_int_equal(tl_window_exemplars(&p, st, 6002, INT64_MAX, two, 2), 1);
    assert_ids(two, 1, w_trunc, 1);
    assert_int_equal(tl_window_exemplars(&p, st, 6001, INT64_MAX, two, 2), 2);
    const tl_exemplar *ex = (const tl_exemplar *)(two[1] - offsetof(tl_exemplar, id));
    assert_int_equal(ex->len, TL_EXEMPLAR_ID_MAX); /* truncated to the maximum */
    assert_memory_equal(two[1], "a-much-longer-trace-id-beyond-the-limit-", TL_EXEMPLAR_ID_MAX);
    free(st);
}

/* Counter without a numerator: the latest events, hit or not. */
static void test_window_exemplars_counter_latest_events(void **state)
{
    (void)state;
    tl_plan p = make_plan(TL_PLAN_COUNTER, 1000, 8, -1);
    tl_planstate *st = new_state(&p);
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "e%d", i);
        add_ex(&p, st, 100 * i, 0, 0, 0, id, 0);
    }
    const char *ids[TL_EXEMPLARS];
    static const char *const want[] = {"e6", "e5", "e4", "e3"};
    assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), want, 4);
    free(st);
}

/* Field aggregates: the largest values, best first; events without the field do not count;
 * `since` drops older ones even if they are larger. */
static void test_window_exemplars_largest_values(void **state)
{
    (void)state;
    static const tl_plan_kind kinds[] = {TL_PLAN_MOMENTS, TL_PLAN_SKETCH};
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    for (size_t ki = 0; ki < 2; ki++) {
        tl_plan p = make_plan(kinds[ki], 1000, 20, -1);
        tl_planstate *st = new_state(&p);
        static const double v[] = {5, 900, 3, 42, 7, 1000, 8, 2, 850, 10};
        char id[16];
        for (int i = 0; i < 10; i++) {
            snprintf(id, sizeof id, "v%g", v[i]);
            tl_contrib c = {.ts = 1000 + i * 500, .has_value = 1, .value = v[i], .trace_id = tl_str_c(id)};
            assert_int_equal(tl_window_add(&p, st, pool, &c, 0), 0);
        }
        tl_contrib nov = {.ts = 7000, .has_value = 0, .trace_id = TL_STR_LIT("novalue")};
        assert_int_equal(tl_window_add(&p, st, pool, &nov, 0), 0);
        const char *ids[TL_EXEMPLARS];
        static const char *const want[] = {"v1000", "v900", "v850", "v42"};
        assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), want, 4);
        /* since = ts of the 1000 (i = 5): 900 (i = 1) and 42 (i = 3) are older */
        static const char *const want_since[] = {"v1000", "v850"};
        assert_ids(ids, tl_window_exemplars(&p, st, 1000 + 5 * 500, INT64_MAX, ids, TL_EXEMPLARS), want_since, 2);
        /* a smaller newer value does not displace larger ones */
        tl_contrib small = {.ts = 8000, .has_value = 1, .value = 1, .trace_id = TL_STR_LIT("v1")};
        assert_int_equal(tl_window_add(&p, st, pool, &small, 0), 0);
        assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), want, 4);
        /* a larger one displaces the smallest */
        tl_contrib big = {.ts = 8500, .has_value = 1, .value = 5000, .trace_id = TL_STR_LIT("v5000")};
        assert_int_equal(tl_window_add(&p, st, pool, &big, 0), 0);
        static const char *const want_big[] = {"v5000", "v1000", "v900", "v850"};
        assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), want_big, 4);
        tl_window_fini(&p, st, pool);
        free(st);
    }
    tl_sketch_pool_destroy(pool);
}

/* Large values long gone are replaced by newer, smaller ones once they are far older than
 * anything the ring still accepts. */
static void test_window_exemplars_stale_replaced(void **state)
{
    (void)state;
    const uint32_t nslots = 12;
    tl_plan p = make_plan(TL_PLAN_MOMENTS, 1000, nslots, -1);
    tl_planstate *st = new_state(&p);
    char id[16];
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        snprintf(id, sizeof id, "big%d", i);
        add_ex(&p, st, 100 + i, 0, 1, 1e6 + i, id, 0);
    }
    /* epoch 100: far beyond the ring (any definition of "left the ring") */
    add_ex(&p, st, 100 * 1000, 0, 1, 1, "small", 100);
    const char *ids[TL_EXEMPLARS];
    static const char *const want[] = {"small"};
    assert_ids(ids, tl_window_exemplars(&p, st, 100 * 1000 - 10 * 1000, INT64_MAX, ids, TL_EXEMPLARS), want, 1);
    free(st);
}

/* An exemplar older than anything the ring holds is replaced first, even by a smaller value:
 * four values 1e6 at epoch 0, then a value 1 at epoch 14 with a 12-slot ring (epochs 3..14):
 * the new one is kept and named for a window starting at 9 s. */
static void test_window_exemplars_left_ring_replaced(void **state)
{
    (void)state;
    const int64_t width = 1000, lateness = 4000;
    const uint32_t W = 6, L = (uint32_t)(lateness / width), nslots = W + L + 2;
    tl_plan p = make_plan(TL_PLAN_MOMENTS, width, nslots, -1);
    tl_planstate *st = new_state(&p);
    char id[16];
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        snprintf(id, sizeof id, "big%d", i);
        add_ex(&p, st, 100 + i, 0, 1, 1e6 + i, id, tl_epoch(0 - lateness, width));
    }
    int64_t wm = 14 * width;
    add_ex(&p, st, wm, 0, 1, 1, "small", tl_epoch(wm - lateness, width));
    tl_winagg a;
    tl_window_read(&p, st, tl_epoch(wm, width), W, &a);
    assert_int_equal(a.nv, 1); /* the window holds only the new value */
    const char *ids[TL_EXEMPLARS];
    static const char *const want[] = {"small"};
    assert_ids(ids, tl_window_exemplars(&p, st, wm - (int64_t)(W - 1) * width, INT64_MAX, ids, TL_EXEMPLARS), want, 1);
    free(st);
}

/* A shard that has no watermark yet passes low_epoch = INT64_MIN: nothing may overflow. */
static void test_window_unbounded_low_epoch(void **state)
{
    (void)state;
    tl_plan p = make_plan(TL_PLAN_MOMENTS, 1000, 4, -1);
    tl_planstate *st = new_state(&p);
    add_ex(&p, st, 1500, 0, 1, 3, "first", INT64_MIN);
    const char *ids[TL_EXEMPLARS];
    static const char *const want[] = {"first"};
    assert_ids(ids, tl_window_exemplars(&p, st, 0, INT64_MAX, ids, TL_EXEMPLARS), want, 1);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_counter_matches_reference),
        cmocka_unit_test(test_window_moments_match_reference),
        cmocka_unit_test(test_window_sketch_matches_reference),
        cmocka_unit_test(test_window_late_event_rejected),
        cmocka_unit_test(test_window_older_than_slot_rejected),
        cmocka_unit_test(test_window_sketch_pool_full),
        cmocka_unit_test(test_window_live),
        cmocka_unit_test(test_window_expire),
        cmocka_unit_test(test_window_live_mask_reads_equal_full_walk),
        cmocka_unit_test(test_window_exemplars_counter_latest_hits),
        cmocka_unit_test(test_window_exemplars_counter_latest_events),
        cmocka_unit_test(test_window_exemplars_largest_values),
        cmocka_unit_test(test_window_exemplars_stale_replaced),
        cmocka_unit_test(test_window_exemplars_left_ring_replaced),
        cmocka_unit_test(test_window_unbounded_low_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
