/* tests/unit/test_sketch.c - the quantile sketch against exact answers (sorted arrays, plain
 * per-bin counts), its mapping, pool accounting and limits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "sketch.h"
#include "tl_test.h"

static const double qs[] = {0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1};

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

enum dist { D_UNIFORM_INT, D_LOGNORMAL_MS, D_EXPONENTIAL, D_LOG_SPAN, D_MIXED_SIGN, D__COUNT };

static double draw(enum dist d, tl_test_rng *rng)
{
    switch (d) {
    case D_UNIFORM_INT: /* integers 1..1000, so many ties */
        return (double)(1 + tl_test_rand(rng) % 1000);
    case D_LOGNORMAL_MS: /* latency in ms, median 200 ms, sigma 1 */
        return exp(log(200.0) + rand_normal(rng));
    case D_EXPONENTIAL: /* mean 50 */
        return -50.0 * log(1.0 - tl_test_rand01(rng));
    case D_LOG_SPAN: /* log-uniform over 1e-6 .. 1e9 */
        return pow(10.0, -6.0 + 15.0 * tl_test_rand01(rng));
    case D_MIXED_SIGN: { /* 10% zeros, the rest +/- log-uniform 1e-3 .. 1e6 */
        uint64_t r = tl_test_rand(rng);
        if (r % 10 == 0)
            return 0.0;
        double m = pow(10.0, -3.0 + 9.0 * tl_test_rand01(rng));
        return (r >> 8) & 1 ? -m : m;
    }
    default:
        return 0;
    }
}

static void assert_within_alpha(double est, double exact)
{
    if (exact == 0.0) {
        assert_true(est == 0.0);
        return;
    }
    double rel = fabs(est - exact) / fabs(exact);
    if (rel > TL_SKETCH_ALPHA + 1e-9)
        fail_msg("estimate %.17g for exact %.17g: relative error %g", est, exact, rel);
}

/* Every quantile read through pool -> chain -> accumulator is within alpha of the exact value
 * at the same rank, for several shapes and sizes. */
static void test_sketch_quantile_error_bound(void **state)
{
    (void)state;
    static const size_t sizes[] = {10, 100, 1000, 10000, 100000};
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_sketch_acc acc;
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    double *vals = malloc(100000 * sizeof(double));
    assert_non_null(vals);
    for (int d = 0; d < D__COUNT; d++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            size_t n = sizes[si];
            tl_test_rng rng = {0x1234567ull + (uint64_t)d * 1000 + si};
            tl_sketch_ref s = 0;
            for (size_t i = 0; i < n; i++) {
                vals[i] = draw((enum dist)d, &rng);
                assert_int_equal(tl_sketch_add(pool, &s, vals[i]), 0);
            }
            assert_int_equal(tl_sketch_count(pool, s), n);
            qsort(vals, n, sizeof(double), cmp_double);
            tl_sketch_acc_reset(&acc);
            tl_sketch_acc_merge(&acc, pool, s);
            assert_int_equal(acc.total, n);
            for (size_t qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
                size_t rank = (size_t)floor(qs[qi] * (double)(n - 1));
                assert_within_alpha(tl_sketch_acc_quantile(&acc, qs[qi]), vals[rank]);
            }
            tl_sketch_clear(pool, &s);
            assert_int_equal(s, 0);
        }
    }
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    free(vals);
    tl_sketch_acc_fini(&acc);
    tl_sketch_pool_destroy(pool);
}

/* Bins ascend with value, cover the whole range without gaps, and each bin's representative
 * is within alpha of the values that map to it. */
static void test_sketch_bin_monotone_and_accurate(void **state)
{
    (void)state;
    uint32_t nb = tl_sketch_nbins();
    assert_true(nb > 1 && nb <= 65536);
    uint16_t zero = tl_sketch_bin(0.0);
    assert_int_equal(tl_sketch_bin(-0.0), zero);
    assert_int_equal(tl_sketch_bin(TL_SKETCH_MIN / 2), zero);
    assert_int_equal(tl_sketch_bin(-TL_SKETCH_MIN / 2), zero);
    assert_true(tl_sketch_bin_value(zero) == 0.0);
    assert_int_equal(tl_sketch_bin(TL_SKETCH_MAX), nb - 1);
    assert_int_equal(tl_sketch_bin(1e300), nb - 1);
    assert_int_equal(tl_sketch_bin(INFINITY), nb - 1);
    assert_int_equal(tl_sketch_bin(-1e300), 0);
    assert_int_equal(tl_sketch_bin(-INFINITY), 0);
    assert_int_equal(zero, (nb - 1) / 2); /* mirrored halves */

    uint8_t *seen = calloc(nb, 1);
    assert_non_null(seen);
    /* Sweep from -1e13 to 1e13 in steps of 1.0001 in magnitude (much finer than gamma). */
    uint16_t prev = 0;
    int first = 1;
    for (int sign = -1; sign <= 1; sign += 2) {
        double m = sign < 0 ? 1e13 : 1e-10;
        for (;;) {
            double v = sign * m;
            uint16_t b = tl_sketch_bin(v);
            assert_true(b < nb);
            if (!first && b < prev)
                fail_msg("bin(%.17g) = %u < previous bin %u", v, b, prev);
            first = 0;
            prev = b;
            seen[b] = 1;
            assert_int_equal(tl_sketch_bin(-v), nb - 1 - b);
            if (m >= TL_SKETCH_MIN && m <= TL_SKETCH_MAX)
                assert_within_alpha(tl_sketch_bin_value(b), v);
            if (sign < 0) {
                if (m < 1e-10)
                    break;
                m /= 1.0001;
            } else {
                if (m > 1e13)
                    break;
                m *= 1.0001;
            }
        }
    }
    for (uint32_t b = 0; b < nb; b++)
        if (!seen[b])
            fail_msg("bin %u never produced by the sweep", b);
    free(seen);
    /* Exact boundary values and their neighbours. */
    double edges[] = {TL_SKETCH_MIN, 1.0, 1e-3, 1e3, TL_SKETCH_MAX};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        double v = edges[i];
        assert_true(tl_sketch_bin(nextafter(v, 0)) <= tl_sketch_bin(v));
        assert_true(tl_sketch_bin(v) <= tl_sketch_bin(nextafter(v, INFINITY)));
        assert_within_alpha(tl_sketch_bin_value(tl_sketch_bin(v)), v);
    }
    /* Representatives strictly ascend. */
    for (uint32_t b = 1; b < nb; b++)
        assert_true(tl_sketch_bin_value((uint16_t)(b - 1)) < tl_sketch_bin_value((uint16_t)b));
}

static void assert_acc_equal(const tl_sketch_acc *a, const tl_sketch_acc *b)
{
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->lo, b->lo);
    assert_int_equal(a->hi, b->hi);
    assert_memory_equal(a->counts, b->counts, tl_sketch_nbins() * sizeof(uint64_t));
}

#define NSLOTS 8

/* Adding values spread over several slots then merging gives exactly the counts of adding
 * them all to one sketch (and of a plain per-bin count); clear returns every chunk and the
 * pool is reused without allocating. */
static void test_sketch_merge_is_union(void **state)
{
    (void)state;
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_sketch_acc split, one, ref;
    assert_int_equal(tl_sketch_acc_init(&split), 0);
    assert_int_equal(tl_sketch_acc_init(&one), 0);
    assert_int_equal(tl_sketch_acc_init(&ref), 0);
    for (int round = 0; round < 2; round++) {
        tl_test_rng rng = {77 + (uint64_t)round};
        tl_sketch_ref slots[NSLOTS] = {0}, all = 0;
        uint64_t per_slot[NSLOTS] = {0};
        uint64_t allocs = tl_alloc_count();
        for (int i = 0; i < 50000; i++) {
            double v = draw((enum dist)(i % D__COUNT), &rng);
            int k = (int)(tl_test_rand(&rng) % NSLOTS);
            assert_int_equal(tl_sketch_add(pool, &slots[k], v), 0);
            assert_int_equal(tl_sketch_add(pool, &all, v), 0);
            tl_sketch_acc_add_value(&ref, v);
            per_slot[k]++;
        }
        if (round == 1) /* the free list covered everything: no allocation at all */
            assert_int_equal(tl_alloc_count(), allocs);
        for (int k = 0; k < NSLOTS; k++) {
            assert_int_equal(tl_sketch_count(pool, slots[k]), per_slot[k]);
            tl_sketch_acc_merge(&split, pool, slots[k]);
        }
        tl_sketch_acc_merge(&one, pool, all);
        assert_int_equal(split.total, 50000);
        assert_acc_equal(&split, &one);
        assert_acc_equal(&split, &ref);
        for (size_t qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++)
            assert_true(tl_sketch_acc_quantile(&split, qs[qi]) == tl_sketch_acc_quantile(&one, qs[qi]));
        assert_true(tl_sketch_pool_bytes_used(pool) > 0);
        for (int k = 0; k < NSLOTS; k++) {
            tl_sketch_clear(pool, &slots[k]);
            assert_int_equal(slots[k], 0);
            assert_int_equal(tl_sketch_count(pool, slots[k]), 0);
        }
        tl_sketch_clear(pool, &all);
        tl_sketch_clear(pool, &all); /* clearing an empty sketch is a no-op */
        assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
        tl_sketch_acc_reset(&split);
        tl_sketch_acc_reset(&one);
        tl_sketch_acc_reset(&ref);
    }
    tl_sketch_acc_fini(&split);
    tl_sketch_acc_fini(&one);
    tl_sketch_acc_fini(&ref);
    tl_sketch_pool_destroy(pool);
}

/* A reset accumulator is empty everywhere, reads NAN and is reusable. */
static void test_sketch_acc_reset_and_empty(void **state)
{
    (void)state;
    tl_sketch_acc acc;
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    assert_true(acc.lo > acc.hi);
    assert_true(isnan(tl_sketch_acc_quantile(&acc, 0.5)));
    tl_sketch_acc_add_value(&acc, -5);
    tl_sketch_acc_add_value(&acc, 0);
    tl_sketch_acc_add_value(&acc, 7);
    assert_int_equal(acc.total, 3);
    assert_int_equal(acc.lo, tl_sketch_bin(-5));
    assert_int_equal(acc.hi, tl_sketch_bin(7));
    assert_within_alpha(tl_sketch_acc_quantile(&acc, 0), -5);
    assert_true(tl_sketch_acc_quantile(&acc, 0.5) == 0.0);
    assert_within_alpha(tl_sketch_acc_quantile(&acc, 1), 7);
    /* q outside [0, 1] clamps. */
    assert_true(tl_sketch_acc_quantile(&acc, -1) == tl_sketch_acc_quantile(&acc, 0));
    assert_true(tl_sketch_acc_quantile(&acc, 2) == tl_sketch_acc_quantile(&acc, 1));
    tl_sketch_acc_reset(&acc);
    assert_true(acc.lo > acc.hi);
    assert_int_equal(acc.total, 0);
    assert_true(isnan(tl_sketch_acc_quantile(&acc, 0.5)));
    for (uint32_t b = 0; b < tl_sketch_nbins(); b++)
        assert_int_equal(acc.counts[b], 0);
    tl_sketch_acc_add_value(&acc, 3);
    assert_within_alpha(tl_sketch_acc_quantile(&acc, 0.5), 3);
    tl_sketch_acc_fini(&acc);
}

/* At max_bytes a new bin is refused (and not counted) while existing bins still count; clear
 * makes room again. */
static void test_sketch_pool_limit(void **state)
{
    (void)state;
    const size_t max = 4096;
    tl_sketch_pool *pool = tl_sketch_pool_new(max);
    assert_non_null(pool);
    tl_sketch_ref s = 0;
    uint64_t accepted = 0;
    double v = TL_SKETCH_MIN;
    for (;; v *= 1.05) { /* 1.05 > gamma: every value is a new bin (~990 bins up to MAX) */
        int rc = tl_sketch_add(pool, &s, v);
        if (rc != 0) {
            assert_int_equal(rc, -1);
            break;
        }
        accepted++;
        assert_true(v < TL_SKETCH_MAX);
    }
    assert_true(accepted > 0);
    assert_int_equal(tl_sketch_count(pool, s), accepted);
    size_t used = tl_sketch_pool_bytes_used(pool);
    assert_true(used <= max);
    assert_true(used + 256 > max); /* the limit, not something smaller, stopped it */
    assert_int_equal(tl_sketch_add(pool, &s, v * 1.05), -1);
    assert_int_equal(tl_sketch_add(pool, &s, TL_SKETCH_MIN), 0); /* existing bin: no new space */
    assert_int_equal(tl_sketch_count(pool, s), accepted + 1);
    tl_sketch_ref other = 0;
    assert_int_equal(tl_sketch_add(pool, &other, 1.0), -1);
    assert_int_equal(other, 0);
    tl_sketch_clear(pool, &s);
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    assert_int_equal(tl_sketch_add(pool, &other, 1.0), 0);
    assert_int_equal(tl_sketch_count(pool, other), 1);
    tl_sketch_clear(pool, &other);
    tl_sketch_pool_destroy(pool);

    /* Smaller than one chunk: nothing fits. */
    pool = tl_sketch_pool_new(8);
    assert_non_null(pool);
    s = 0;
    assert_int_equal(tl_sketch_add(pool, &s, 1.0), -1);
    assert_int_equal(s, 0);
    tl_sketch_pool_destroy(pool);
    tl_sketch_pool_destroy(NULL);
}

/* Allocation failures surface as NULL / -1 and leave things usable. */
static void test_sketch_out_of_memory(void **state)
{
    (void)state;
    tl_alloc_fail_after(0);
    assert_null(tl_sketch_pool_new(0));
    tl_sketch_acc acc;
    assert_int_equal(tl_sketch_acc_init(&acc), -1);
    tl_alloc_fail_after(-1);
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_sketch_ref s = 0;
    tl_alloc_fail_after(0);
    assert_int_equal(tl_sketch_add(pool, &s, 1.0), -1);
    assert_int_equal(s, 0);
    tl_alloc_fail_after(-1);
    assert_int_equal(tl_sketch_add(pool, &s, 1.0), 0);
    assert_int_equal(tl_sketch_count(pool, s), 1);
    tl_sketch_clear(pool, &s);
    tl_sketch_pool_destroy(pool);
}

/* Counts past UINT32_MAX in one bin: needs ~4.3e9 adds (~10 s optimised, minutes under ASan),
 * so it runs only with TL_TEST_SLOW=1. */
static void test_sketch_count_overflow(void **state)
{
    (void)state;
    if (!getenv("TL_TEST_SLOW"))
        skip();
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_sketch_ref s = 0;
    const uint64_t n = (uint64_t)UINT32_MAX + 5;
    for (uint64_t i = 0; i < n; i++)
        if (tl_sketch_add(pool, &s, 0.0) != 0)
            fail();
    assert_int_equal(tl_sketch_add(pool, &s, 2.0), 0);
    assert_int_equal(tl_sketch_count(pool, s), n + 1);
    tl_sketch_acc acc;
    assert_int_equal(tl_sketch_acc_init(&acc), 0);
    tl_sketch_acc_merge(&acc, pool, s);
    assert_int_equal(acc.total, n + 1);
    assert_int_equal(acc.counts[tl_sketch_bin(0.0)], n);
    assert_true(tl_sketch_acc_quantile(&acc, 0.999) == 0.0);
    assert_within_alpha(tl_sketch_acc_quantile(&acc, 1), 2.0);
    tl_sketch_acc_fini(&acc);
    tl_sketch_clear(pool, &s);
    tl_sketch_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sketch_quantile_error_bound),
        cmocka_unit_test(test_sketch_bin_monotone_and_accurate),
        cmocka_unit_test(test_sketch_merge_is_union),
        cmocka_unit_test(test_sketch_acc_reset_and_empty),
        cmocka_unit_test(test_sketch_pool_limit),
        cmocka_unit_test(test_sketch_out_of_memory),
        cmocka_unit_test(test_sketch_count_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
