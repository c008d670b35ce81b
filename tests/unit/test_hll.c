/* tests/unit/test_hll.c - the distinct-count sketch against exact answers: exact counts for
 * small sets, HyperLogLog error within 3 standard errors for large ones, registers against a
 * reference model, merge algebra, pool accounting, limits and allocation hygiene. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "alloc.h"
#include "hll.h"
#include "tl_test.h"

#define M (1u << TL_HLL_P)
#define STD_ERR (1.04 / 32.0) /* 1.04 / sqrt(1024) */
#define CHUNK 64u

static uint64_t hash_int(uint64_t v) { return XXH3_64bits(&v, sizeof(v)); }

static void assert_rel_error(double est, double exact, double tol)
{
    double rel = fabs(est - exact) / exact;
    if (rel > tol)
        fail_msg("estimate %.1f for exact %.0f: relative error %.4f > %.4f", est, exact, rel, tol);
}

/* Registers a reference model computes for a set of hashes. */
static void ref_registers(uint8_t *reg, const uint64_t *h, size_t n)
{
    memset(reg, 0, M);
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = (uint32_t)(h[i] >> (64 - TL_HLL_P));
        uint8_t rank = 1;
        for (int bit = 63 - TL_HLL_P; bit >= 0 && !((h[i] >> bit) & 1); bit--)
            rank++;
        if (reg[idx] < rank)
            reg[idx] = rank;
    }
}

static double estimate_of(tl_hll_acc *a, const tl_hll_pool *p, tl_hll_ref s)
{
    tl_hll_acc_reset(a);
    tl_hll_acc_merge(a, p, s);
    return tl_hll_acc_estimate(a);
}

/* 0, 1, 10 and 64 distinct values, each added three times in interleaved order, count
 * exactly; a sparse sketch costs one chunk per 7 distinct values. */
static void test_hll_exact_small_sets(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {0, 1, 10, 64};
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        uint32_t n = sizes[si];
        tl_hll_ref s = 0;
        for (int rep = 0; rep < 3; rep++)
            for (uint32_t i = 0; i < n; i++)
                assert_int_equal(tl_hll_add(p, &s, hash_int(rep == 1 ? n - 1 - i : i)), 0);
        assert_int_equal(tl_hll_pool_bytes_used(p), (n + 6) / 7 * CHUNK);
        tl_hll_acc_reset(&a);
        tl_hll_acc_merge(&a, p, s);
        assert_int_equal(a.dense, 0);
        assert_true(tl_hll_acc_estimate(&a) == (double)n);
        tl_hll_clear(p, &s);
        assert_int_equal(s, 0);
        assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    }
    /* An empty sketch merges as nothing. */
    tl_hll_acc_reset(&a);
    tl_hll_acc_merge(&a, p, 0);
    assert_true(tl_hll_acc_estimate(&a) == 0.0);
    tl_hll_acc_fini(&a);
    tl_hll_pool_destroy(p);
}

/* 1e3 .. 1e6 distinct values (random hashes, plus duplicates) are estimated within 3 standard
 * errors from one sketch; the union of 64 slots holding the same values (and repeats across
 * slots) is exact while small and has exactly the same registers once large. */
static void test_hll_error_bound(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {1000, 10000, 100000, 1000000};
    enum { NSLOTS = 64 };
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc one, split;
    assert_int_equal(tl_hll_acc_init(&one), 0);
    assert_int_equal(tl_hll_acc_init(&split), 0);
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        uint32_t n = sizes[si];
        tl_test_rng rng = {1234 + si};
        tl_hll_ref all = 0, slots[NSLOTS] = {0};
        uint64_t prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t h = tl_test_rand(&rng);
            assert_int_equal(tl_hll_add(p, &all, h), 0);
            assert_int_equal(tl_hll_add(p, &slots[i % NSLOTS], h), 0);
            if (i % 3 == 1) /* a repeat lands in another slot: must not count twice */
                assert_int_equal(tl_hll_add(p, &slots[(i + 1) % NSLOTS], prev), 0);
            prev = h;
        }
        tl_hll_acc_reset(&one);
        tl_hll_acc_merge(&one, p, all);
        assert_int_equal(one.dense, 1);
        assert_rel_error(tl_hll_acc_estimate(&one), n, 3 * STD_ERR);

        tl_hll_acc_reset(&split);
        for (int k = 0; k < NSLOTS; k++)
            tl_hll_acc_merge(&split, p, slots[k]);
        if (n <= TL_HLL_ACC_EXACT_MAX) { /* small sparse slots: the union is exact */
            assert_int_equal(split.dense, 0);
            assert_true(tl_hll_acc_estimate(&split) == n);
        } else { /* same registers whichever way the values were grouped */
            assert_int_equal(split.dense, 1);
            assert_memory_equal(split.reg, one.reg, M);
            assert_true(tl_hll_acc_estimate(&split) == tl_hll_acc_estimate(&one));
        }

        tl_hll_clear(p, &all);
        for (int k = 0; k < NSLOTS; k++)
            tl_hll_clear(p, &slots[k]);
        assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    }
    tl_hll_acc_fini(&one);
    tl_hll_acc_fini(&split);
    tl_hll_pool_destroy(p);
}

/* N sketches of overlapping integer ranges: the merge estimates the exact union size. Small
 * sparse unions are exact; larger ones are within 3 standard errors. */
static void test_hll_merge_union(void **state)
{
    (void)state;
    static const struct { uint32_t n_sketches, len, step; } cases[] = {
        {8, 40, 25},      /* all sparse, union 215: exact */
        {30, 60, 50},     /* all sparse, union 1510: exact */
        {20, 2000, 500},  /* dense, union 11500 */
        {50, 5000, 3000}, /* dense, union 152000 */
    };
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        uint32_t ns = cases[ci].n_sketches, len = cases[ci].len, step = cases[ci].step;
        tl_hll_ref *s = calloc(ns, sizeof(*s));
        assert_non_null(s);
        for (uint32_t k = 0; k < ns; k++)
            for (uint32_t v = k * step; v < k * step + len; v++)
                assert_int_equal(tl_hll_add(p, &s[k], hash_int(v)), 0);
        /* exact union: every integer in [0, (ns - 1) * step + len) is covered as step <= len */
        assert_true(step <= len);
        double exact = (double)((ns - 1) * step + len);
        tl_hll_acc_reset(&a);
        for (uint32_t k = 0; k < ns; k++)
            tl_hll_acc_merge(&a, p, s[k]);
        if (len <= TL_HLL_SPARSE_MAX && exact <= TL_HLL_ACC_EXACT_MAX) {
            assert_int_equal(a.dense, 0);
            assert_true(tl_hll_acc_estimate(&a) == exact);
        } else {
            assert_int_equal(a.dense, 1);
            assert_rel_error(tl_hll_acc_estimate(&a), exact, 3 * STD_ERR);
        }
        for (uint32_t k = 0; k < ns; k++)
            tl_hll_clear(p, &s[k]);
        free(s);
    }
    assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    tl_hll_acc_fini(&a);
    tl_hll_pool_destroy(p);
}

/* Merge order does not matter and merging a sketch again changes nothing, for sparse-only
 * (exact) and mixed sparse/dense accumulators. */
static void test_hll_merge_commutative_idempotent(void **state)
{
    (void)state;
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_ref s[4] = {0};
    /* s0, s1 sparse and overlapping; s2 dense; s3 sparse with values also in s2 */
    for (uint64_t v = 0; v < 50; v++)
        assert_int_equal(tl_hll_add(p, &s[0], hash_int(v)), 0);
    for (uint64_t v = 30; v < 90; v++)
        assert_int_equal(tl_hll_add(p, &s[1], hash_int(v)), 0);
    for (uint64_t v = 1000; v < 6000; v++)
        assert_int_equal(tl_hll_add(p, &s[2], hash_int(v)), 0);
    for (uint64_t v = 5990; v < 6010; v++)
        assert_int_equal(tl_hll_add(p, &s[3], hash_int(v)), 0);

    tl_hll_acc x, y;
    assert_int_equal(tl_hll_acc_init(&x), 0);
    assert_int_equal(tl_hll_acc_init(&y), 0);

    /* sparse only: exact union 90 either way, and again after merging both twice */
    tl_hll_acc_merge(&x, p, s[0]);
    tl_hll_acc_merge(&x, p, s[1]);
    tl_hll_acc_merge(&y, p, s[1]);
    tl_hll_acc_merge(&y, p, s[0]);
    assert_true(tl_hll_acc_estimate(&x) == 90.0);
    assert_true(tl_hll_acc_estimate(&y) == 90.0);
    tl_hll_acc_merge(&x, p, s[0]);
    tl_hll_acc_merge(&x, p, s[1]);
    assert_int_equal(x.dense, 0);
    assert_true(tl_hll_acc_estimate(&x) == 90.0);

    /* all four, in two orders: identical registers and estimates */
    static const int order_a[] = {0, 1, 2, 3}, order_b[] = {3, 2, 1, 0};
    tl_hll_acc_reset(&x);
    tl_hll_acc_reset(&y);
    for (int i = 0; i < 4; i++) {
        tl_hll_acc_merge(&x, p, s[order_a[i]]);
        tl_hll_acc_merge(&y, p, s[order_b[i]]);
    }
    assert_int_equal(x.dense, 1);
    assert_int_equal(y.dense, 1);
    assert_memory_equal(x.reg, y.reg, M);
    double est = tl_hll_acc_estimate(&x);
    assert_true(est == tl_hll_acc_estimate(&y));
    assert_rel_error(est, 90 + 5010, 3 * STD_ERR);
    for (int i = 0; i < 4; i++)
        tl_hll_acc_merge(&x, p, s[i]);
    assert_memory_equal(x.reg, y.reg, M);
    assert_true(tl_hll_acc_estimate(&x) == est);

    /* the same dense sketch twice equals it once */
    tl_hll_acc_reset(&x);
    tl_hll_acc_merge(&x, p, s[2]);
    double once = tl_hll_acc_estimate(&x);
    tl_hll_acc_merge(&x, p, s[2]);
    assert_true(tl_hll_acc_estimate(&x) == once);

    for (int i = 0; i < 4; i++)
        tl_hll_clear(p, &s[i]);
    tl_hll_acc_fini(&x);
    tl_hll_acc_fini(&y);
    tl_hll_pool_destroy(p);
}

/* At TL_HLL_SPARSE_MAX distinct hashes the sketch is still exact in 10 chunks; one more
 * distinct hash makes it 17 chunks of registers that match a reference model, while repeats at
 * the boundary change nothing. */
static void test_hll_sparse_to_dense_boundary(void **state)
{
    (void)state;
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    uint64_t h[TL_HLL_SPARSE_MAX + 1];
    /* edge hashes: zero (rank 55), all ones (register 1023, rank 1), a lone low bit */
    h[0] = 0;
    h[1] = UINT64_MAX;
    h[2] = 1;
    h[3] = 1ull << (63 - TL_HLL_P);
    for (uint32_t i = 4; i <= TL_HLL_SPARSE_MAX; i++)
        h[i] = hash_int(i);
    tl_hll_ref s = 0;
    for (uint32_t i = 0; i < TL_HLL_SPARSE_MAX; i++)
        assert_int_equal(tl_hll_add(p, &s, h[i]), 0);
    assert_int_equal(tl_hll_pool_bytes_used(p), TL_HLL_SPARSE_MAX / 7 * CHUNK);
    for (uint32_t i = 0; i < TL_HLL_SPARSE_MAX; i++) /* repeats: still sparse */
        assert_int_equal(tl_hll_add(p, &s, h[i]), 0);
    assert_int_equal(tl_hll_pool_bytes_used(p), TL_HLL_SPARSE_MAX / 7 * CHUNK);
    assert_true(estimate_of(&a, p, s) == TL_HLL_SPARSE_MAX);
    assert_int_equal(a.dense, 0);

    assert_int_equal(tl_hll_add(p, &s, h[TL_HLL_SPARSE_MAX]), 0);
    assert_int_equal(tl_hll_pool_bytes_used(p), 17 * CHUNK);
    double est = estimate_of(&a, p, s);
    assert_int_equal(a.dense, 1);
    uint8_t ref[M];
    ref_registers(ref, h, TL_HLL_SPARSE_MAX + 1);
    assert_memory_equal(a.reg, ref, M);
    assert_int_equal(a.reg[0], 64 - TL_HLL_P + 1);
    assert_int_equal(a.reg[M - 1], 1);
    assert_true(fabs(est - (TL_HLL_SPARSE_MAX + 1)) < 3.0); /* linear counting is tight here */

    /* repeats and new values in dense form take no more memory */
    for (uint32_t i = 0; i <= TL_HLL_SPARSE_MAX; i++)
        assert_int_equal(tl_hll_add(p, &s, h[i]), 0);
    assert_true(estimate_of(&a, p, s) == est);
    for (uint64_t v = 100; v < 2100; v++)
        assert_int_equal(tl_hll_add(p, &s, hash_int(v)), 0);
    assert_int_equal(tl_hll_pool_bytes_used(p), 17 * CHUNK);
    tl_hll_clear(p, &s);
    assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    tl_hll_acc_fini(&a);
    tl_hll_pool_destroy(p);
}

/* The accumulator is exact up to TL_HLL_ACC_EXACT_MAX distinct hashes and switches to
 * registers one past it; reset empties it completely and leaves it exact again. */
static void test_hll_acc_exact_limit_and_reset(void **state)
{
    (void)state;
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    enum { PER = 64, N = TL_HLL_ACC_EXACT_MAX / PER };
    tl_hll_ref s[N + 1] = {0};
    for (uint32_t k = 0; k < N; k++)
        for (uint32_t i = 0; i < PER; i++)
            assert_int_equal(tl_hll_add(p, &s[k], hash_int(k * PER + i)), 0);
    assert_int_equal(tl_hll_add(p, &s[N], hash_int(0)), 0); /* a repeat */
    for (int round = 0; round < 2; round++) {
        for (uint32_t k = 0; k <= N; k++)
            tl_hll_acc_merge(&a, p, s[k]);
        assert_int_equal(a.dense, 0);
        assert_true(tl_hll_acc_estimate(&a) == TL_HLL_ACC_EXACT_MAX);
        tl_hll_acc_reset(&a);
        /* nothing left behind in the index or registers */
        assert_int_equal(a.nsparse, 0);
        for (uint32_t i = 0; i < 2 * TL_HLL_ACC_EXACT_MAX; i++)
            assert_int_equal(a.slot[i], 0);
        for (uint32_t i = 0; i < M; i++)
            assert_int_equal(a.reg[i], 0);
        assert_true(tl_hll_acc_estimate(&a) == 0.0);
    }
    /* a partial set then reset: the index forgets exactly those entries */
    tl_hll_acc_merge(&a, p, s[3]);
    tl_hll_acc_merge(&a, p, s[7]);
    assert_true(tl_hll_acc_estimate(&a) == 2 * PER);
    tl_hll_acc_reset(&a);
    for (uint32_t i = 0; i < 2 * TL_HLL_ACC_EXACT_MAX; i++)
        assert_int_equal(a.slot[i], 0);
    tl_hll_acc_merge(&a, p, s[7]);
    assert_true(tl_hll_acc_estimate(&a) == PER);

    /* one more distinct hash than the exact limit: registers, estimate close */
    tl_hll_acc_reset(&a);
    assert_int_equal(tl_hll_add(p, &s[N], hash_int(TL_HLL_ACC_EXACT_MAX)), 0);
    for (uint32_t k = 0; k <= N; k++)
        tl_hll_acc_merge(&a, p, s[k]);
    assert_int_equal(a.dense, 1);
    assert_rel_error(tl_hll_acc_estimate(&a), TL_HLL_ACC_EXACT_MAX + 1, 3 * STD_ERR);
    tl_hll_acc_reset(&a);
    assert_int_equal(a.dense, 0);
    for (uint32_t i = 0; i < M; i++)
        assert_int_equal(a.reg[i], 0);
    tl_hll_acc_merge(&a, p, s[0]);
    assert_true(tl_hll_acc_estimate(&a) == PER);

    for (uint32_t k = 0; k <= N; k++)
        tl_hll_clear(p, &s[k]);
    tl_hll_acc_fini(&a);
    tl_hll_pool_destroy(p);
}

/* Clear gives every chunk back (bytes_used 0), and running the same workload again, sparse and
 * dense sketches alike, allocates nothing. */
static void test_hll_clear_and_reuse_allocates_nothing(void **state)
{
    (void)state;
    enum { NSLOTS = 500 };
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    double first = 0;
    for (int round = 0; round < 3; round++) {
        tl_test_rng rng = {99};
        tl_hll_ref s[NSLOTS] = {0};
        uint64_t allocs = tl_alloc_count();
        for (int i = 0; i < 200000; i++) {
            /* skewed: a few slots get most values (dense), most get a handful (sparse) */
            uint64_t r = tl_test_rand(&rng);
            int k = (int)(r % 8 == 0 ? r % 10 : r % NSLOTS);
            assert_int_equal(tl_hll_add(p, &s[k], hash_int(r % 50000)), 0);
        }
        tl_hll_acc_reset(&a);
        for (int k = 0; k < NSLOTS; k++)
            tl_hll_acc_merge(&a, p, s[k]);
        if (round == 0)
            first = tl_hll_acc_estimate(&a);
        else /* the free list served everything */
            assert_int_equal(tl_alloc_count(), allocs);
        assert_true(tl_hll_acc_estimate(&a) == first);
        assert_true(tl_hll_pool_bytes_used(p) > 0);
        for (int k = 0; k < NSLOTS; k++) {
            tl_hll_clear(p, &s[k]);
            assert_int_equal(s[k], 0);
        }
        tl_hll_clear(p, &s[0]); /* clearing an empty sketch is a no-op */
        assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    }
    tl_hll_acc_fini(&a);
    tl_hll_pool_destroy(p);
}

/* At max_bytes new hashes are refused (-1, not recorded) while repeats still succeed; a
 * conversion to dense that does not fit leaves the sparse sketch intact; clear makes room. */
static void test_hll_pool_limit(void **state)
{
    (void)state;
    const size_t max = 4096; /* 64 chunks */
    tl_hll_pool *p = tl_hll_pool_new(max);
    assert_non_null(p);
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), 0);
    enum { NS = 16 };
    tl_hll_ref s[NS] = {0};
    uint32_t accepted = 0;
    int full = 0;
    /* 60 distinct per sketch: stays sparse, 9 chunks each */
    for (uint32_t k = 0; k < NS && !full; k++)
        for (uint32_t i = 0; i < 60; i++) {
            int rc = tl_hll_add(p, &s[k], hash_int(k * 1000 + i));
            if (rc != 0) {
                assert_int_equal(rc, -1);
                full = 1;
                break;
            }
            accepted++;
        }
    assert_true(full);
    assert_int_equal(tl_hll_pool_bytes_used(p), max);
    assert_int_equal(tl_hll_add(p, &s[0], hash_int(0)), 0); /* repeat: no new space */
    tl_hll_acc_reset(&a);
    for (uint32_t k = 0; k < NS; k++)
        tl_hll_acc_merge(&a, p, s[k]);
    assert_true(tl_hll_acc_estimate(&a) == accepted);
    tl_hll_ref other = 0;
    assert_int_equal(tl_hll_add(p, &other, 1), -1);
    assert_int_equal(other, 0);
    for (uint32_t k = 0; k < NS; k++)
        tl_hll_clear(p, &s[k]);
    assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    assert_int_equal(tl_hll_add(p, &other, 1), 0);
    tl_hll_clear(p, &other);
    tl_hll_pool_destroy(p);

    /* Room for 16 chunks: a full sparse sketch (10) fits, its dense form (17) does not. */
    p = tl_hll_pool_new(16 * CHUNK);
    assert_non_null(p);
    tl_hll_ref t = 0;
    for (uint32_t i = 0; i < TL_HLL_SPARSE_MAX; i++)
        assert_int_equal(tl_hll_add(p, &t, hash_int(i)), 0);
    assert_int_equal(tl_hll_add(p, &t, hash_int(TL_HLL_SPARSE_MAX)), -1);
    assert_int_equal(tl_hll_pool_bytes_used(p), TL_HLL_SPARSE_MAX / 7 * CHUNK);
    assert_true(estimate_of(&a, p, t) == TL_HLL_SPARSE_MAX);
    assert_int_equal(a.dense, 0);
    assert_int_equal(tl_hll_add(p, &t, hash_int(5)), 0); /* still usable */
    assert_true(estimate_of(&a, p, t) == TL_HLL_SPARSE_MAX);
    tl_hll_clear(p, &t);
    assert_int_equal(tl_hll_pool_bytes_used(p), 0);
    tl_hll_pool_destroy(p);

    /* Exactly 17 chunks: the conversion reuses the sparse chain's chunks and fits. */
    p = tl_hll_pool_new(17 * CHUNK);
    assert_non_null(p);
    for (uint32_t i = 0; i <= TL_HLL_SPARSE_MAX; i++)
        assert_int_equal(tl_hll_add(p, &t, hash_int(i)), 0);
    assert_int_equal(tl_hll_pool_bytes_used(p), 17 * CHUNK);
    estimate_of(&a, p, t);
    assert_int_equal(a.dense, 1);
    other = 0;
    assert_int_equal(tl_hll_add(p, &other, 1), -1);
    tl_hll_clear(p, &t);
    assert_int_equal(tl_hll_add(p, &other, 1), 0);
    tl_hll_clear(p, &other);
    tl_hll_pool_destroy(p);

    /* Smaller than one chunk: nothing fits. */
    p = tl_hll_pool_new(8);
    assert_non_null(p);
    t = 0;
    assert_int_equal(tl_hll_add(p, &t, 1), -1);
    assert_int_equal(t, 0);
    tl_hll_pool_destroy(p);
    tl_hll_pool_destroy(NULL);
    tl_hll_acc_fini(&a);
}

/* Allocation failures surface as NULL / -1 and leave things usable. */
static void test_hll_out_of_memory(void **state)
{
    (void)state;
    tl_alloc_fail_after(0);
    assert_null(tl_hll_pool_new(0));
    tl_hll_acc a;
    assert_int_equal(tl_hll_acc_init(&a), -1);
    tl_alloc_fail_after(1); /* first acc buffer succeeds, second fails: nothing leaks */
    assert_int_equal(tl_hll_acc_init(&a), -1);
    tl_alloc_fail_after(-1);
    tl_hll_pool *p = tl_hll_pool_new(0);
    assert_non_null(p);
    tl_hll_ref s = 0;
    tl_alloc_fail_after(0);
    assert_int_equal(tl_hll_add(p, &s, 42), -1);
    assert_int_equal(s, 0);
    tl_alloc_fail_after(-1);
    assert_int_equal(tl_hll_add(p, &s, 42), 0);
    assert_int_equal(tl_hll_acc_init(&a), 0);
    assert_true(estimate_of(&a, p, s) == 1.0);
    tl_hll_acc_fini(&a);
    tl_hll_acc_fini(&a); /* fini twice is harmless */
    tl_hll_clear(p, &s);
    tl_hll_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hll_exact_small_sets),
        cmocka_unit_test(test_hll_error_bound),
        cmocka_unit_test(test_hll_merge_union),
        cmocka_unit_test(test_hll_merge_commutative_idempotent),
        cmocka_unit_test(test_hll_sparse_to_dense_boundary),
        cmocka_unit_test(test_hll_acc_exact_limit_and_reset),
        cmocka_unit_test(test_hll_clear_and_reuse_allocates_nothing),
        cmocka_unit_test(test_hll_pool_limit),
        cmocka_unit_test(test_hll_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
