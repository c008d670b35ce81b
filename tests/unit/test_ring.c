/* tests/unit/test_ring.c - SPSC ring: single-threaded semantics against a model queue, then a
 * producer/consumer pair passing 10 million checksummed records. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "ring.h"
#include "tl_test.h"

/* Fill `n` bytes deterministically from `seed`. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((seed * 0x9e3779b97f4a7c15ull + i * 131) >> 56);
}

static int check(const unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((seed * 0x9e3779b97f4a7c15ull + i * 131) >> 56))
            return 0;
    return 1;
}

/* Sizes, rounding, limits and one record's lifecycle. */
static void test_ring_basic(void **state)
{
    (void)state;
    tl_ring *r = tl_ring_new(100); /* rounded up to the 4 KiB minimum */
    assert_non_null(r);
    assert_int_equal(tl_ring_max_record(r), 1024);
    assert_true(tl_ring_empty(r));
    size_t n = 99;
    assert_null(tl_ring_peek(r, &n));
    tl_ring_consume(r); /* nothing to consume: no-op */
    assert_true(tl_ring_empty(r));

    assert_null(tl_ring_reserve(r, 1025));
    unsigned char *w = tl_ring_reserve(r, 1024);
    assert_non_null(w);
    assert_int_equal((uintptr_t)w % 8, 0);
    fill(w, 1024, 1);
    /* Reserved but unpublished: invisible. */
    assert_true(tl_ring_empty(r));
    assert_null(tl_ring_peek(r, &n));
    tl_ring_publish(r);
    assert_false(tl_ring_empty(r));
    const unsigned char *p = tl_ring_peek(r, &n);
    assert_non_null(p);
    assert_int_equal(n, 1024);
    assert_true(check(p, n, 1));
    /* Peek again returns the same record until it is consumed. */
    assert_ptr_equal(tl_ring_peek(r, &n), p);
    tl_ring_consume(r);
    assert_true(tl_ring_empty(r));
    assert_null(tl_ring_peek(r, &n));

    /* Zero-length records are records. */
    assert_non_null(tl_ring_reserve(r, 0));
    tl_ring_publish(r);
    assert_non_null(tl_ring_peek(r, &n));
    assert_int_equal(n, 0);
    tl_ring_consume(r);
    assert_true(tl_ring_empty(r));
    tl_ring_destroy(r);
    tl_ring_destroy(NULL);

    r = tl_ring_new(5000);
    assert_non_null(r);
    assert_int_equal(tl_ring_max_record(r), 8192 / 4);
    tl_ring_destroy(r);

    tl_alloc_fail_after(1);
    assert_null(tl_ring_new(4096));
    tl_alloc_fail_after(0);
    assert_null(tl_ring_new(4096));
    tl_alloc_fail_after(-1);
}

/* Filling: reserve returns NULL exactly when the bytes are not there, and consuming frees
 * them. Several reserves share one publish. */
static void test_ring_full(void **state)
{
    (void)state;
    tl_ring *r = tl_ring_new(4096);
    assert_non_null(r);
    /* 100-byte records take 8 + 104 = 112 bytes: 36 fit in 4096 (36 * 112 = 4032). */
    int k = 0;
    unsigned char *w;
    while ((w = tl_ring_reserve(r, 100)) != NULL) {
        fill(w, 100, (uint64_t)k);
        k++;
        assert_true(k <= 36);
    }
    assert_int_equal(k, 36);
    assert_true(tl_ring_empty(r)); /* nothing published yet */
    tl_ring_publish(r);
    assert_null(tl_ring_reserve(r, 100));
    assert_non_null(tl_ring_reserve(r, 48)); /* 64 bytes were left: 8 + 48 fit, 8 remain */
    assert_null(tl_ring_reserve(r, 1));      /* needs 16 */
    tl_ring_publish(r);
    size_t n;
    for (int i = 0; i < 36; i++) {
        const unsigned char *p = tl_ring_peek(r, &n);
        assert_non_null(p);
        assert_int_equal(n, 100);
        assert_true(check(p, n, (uint64_t)i));
        tl_ring_consume(r);
        /* The write position is 8 bytes before the end. With one record freed, 120 bytes are
         * free, but a 112-byte payload (120 with header) cannot use the last 8: it needs the
         * PAD plus 120 at the start. */
        if (i == 0)
            assert_null(tl_ring_reserve(r, 112));
        if (i == 1) {
            w = tl_ring_reserve(r, 104);
            assert_non_null(w);
            fill(w, 104, 1000);
            tl_ring_publish(r);
        }
    }
    assert_non_null(tl_ring_peek(r, &n));
    assert_int_equal(n, 48);
    tl_ring_consume(r);
    const unsigned char *p = tl_ring_peek(r, &n);
    assert_non_null(p);
    assert_int_equal(n, 104);
    assert_true(check(p, n, 1000));
    tl_ring_consume(r);
    assert_true(tl_ring_empty(r));
    tl_ring_destroy(r);
}

/* Model check: random variable-size records with random interleaving of reserve/publish and
 * peek/consume, against a model that tracks byte positions (records padded to 8 bytes plus an
 * 8-byte header; a record that does not fit before the end skips to offset 0). Checks which
 * reserves succeed, where each record lands, and content and order on the way out. */
static void test_ring_wraparound_model(void **state)
{
    (void)state;
    enum { CAP = 4096, QCAP = 1024 };
    tl_ring *r = tl_ring_new(CAP);
    assert_non_null(r);
    size_t maxrec = tl_ring_max_record(r);
    static uint32_t qsize[QCAP];
    static uint64_t qseed[QCAP], qpos[QCAP];
    size_t q_head = 0, q_pub = 0, q_tail = 0; /* reserved, published, consumed */
    uint64_t wpos = 0, tail = 0;              /* model byte positions */
    unsigned char *base = NULL;               /* payload address of offset 0 */
    tl_test_rng rng = {42};
    uint64_t next_seed = 1, pads = 0, refused = 0;
    for (int step = 0; step < 200000; step++) {
        uint64_t op = tl_test_rand(&rng) % 8;
        if (op < 4) {
            size_t n = tl_test_rand(&rng) % 4 == 0 ? tl_test_rand(&rng) % (maxrec + 1)
                                                  : tl_test_rand(&rng) % 64;
            uint64_t need = 8 + ((n + 7) & ~(size_t)7);
            uint64_t to_end = CAP - (wpos % CAP);
            uint64_t pad = to_end < need ? to_end : 0;
            int fits = wpos + pad + need - tail <= CAP;
            unsigned char *w = tl_ring_reserve(r, n);
            assert_int_equal(w != NULL, fits);
            if (!w) {
                refused++;
                continue;
            }
            assert_true(q_head - q_tail < QCAP); /* 1024 records of >= 8 bytes never fit */
            uint64_t start = wpos + pad;
            if (!base && start % CAP == 0)
                base = w;
            if (base)
                assert_ptr_equal(w, base + start % CAP);
            pads += pad != 0;
            wpos = start + need;
            fill(w, n, next_seed);
            qsize[q_head % QCAP] = (uint32_t)n;
            qseed[q_head % QCAP] = next_seed++;
            qpos[q_head % QCAP] = start;
            q_head++;
        } else if (op == 4) {
            tl_ring_publish(r);
            q_pub = q_head;
        } else {
            size_t n;
            const unsigned char *p = tl_ring_peek(r, &n);
            if (q_tail == q_pub) {
                assert_null(p);
                assert_true(tl_ring_empty(r));
                continue;
            }
            assert_non_null(p);
            assert_false(tl_ring_empty(r));
            assert_ptr_equal(p, base + qpos[q_tail % QCAP] % CAP);
            assert_int_equal(n, qsize[q_tail % QCAP]);
            assert_true(check(p, n, qseed[q_tail % QCAP]));
            tl_ring_consume(r);
            tail = qpos[q_tail % QCAP] + 8 + ((n + 7) & ~(size_t)7);
            q_tail++;
        }
    }
    /* The run really exercised wrapping with PADs and a full ring. */
    assert_true(pads > 100);
    assert_true(refused > 100);
    tl_ring_destroy(r);
}

/* Deterministic wrap with a PAD: place a record near the end, then one that cannot fit before
 * the end must land at the start of the buffer. */
static void test_ring_padding_marker(void **state)
{
    (void)state;
    tl_ring *r = tl_ring_new(4096);
    assert_non_null(r);
    size_t n;
    /* Advance to offset 4096 - 64 with three 1000-byte records (3 * 1008 = 3024) + 1008. */
    unsigned char *base = NULL;
    for (int i = 0; i < 4; i++) {
        unsigned char *w = tl_ring_reserve(r, 1000);
        assert_non_null(w);
        if (i == 0)
            base = w;
        tl_ring_publish(r);
        assert_non_null(tl_ring_peek(r, &n));
        tl_ring_consume(r);
    }
    /* Now at offset 4032: 64 bytes left. A 56-byte record fits exactly. */
    unsigned char *w = tl_ring_reserve(r, 56);
    assert_non_null(w);
    assert_ptr_equal(w, base + 4032);
    fill(w, 56, 7);
    tl_ring_publish(r);
    /* Next record is at the start (offset 0 after the wrap, no PAD needed). */
    w = tl_ring_reserve(r, 200);
    assert_non_null(w);
    assert_ptr_equal(w, base);
    fill(w, 200, 8);
    tl_ring_publish(r);
    const unsigned char *p = tl_ring_peek(r, &n);
    assert_int_equal(n, 56);
    assert_true(check(p, n, 7));
    tl_ring_consume(r);
    p = tl_ring_peek(r, &n);
    assert_ptr_equal(p, base);
    assert_int_equal(n, 200);
    assert_true(check(p, n, 8));
    tl_ring_consume(r);
    /* Position 4096 + 208: fill with records up to 16 bytes before the end. */
    size_t off = 208;
    while (off + 8 + 1000 <= 4096 - 16) {
        assert_non_null(tl_ring_reserve(r, 1000));
        off += 1008;
    }
    size_t gap = 4096 - 16 - off; /* multiple of 8, >= 8 */
    assert_non_null(tl_ring_reserve(r, gap - 8));
    tl_ring_publish(r);
    while (tl_ring_peek(r, &n))
        tl_ring_consume(r);
    /* 16 bytes left before the end; a 24-byte record needs 32: PAD, then offset 0. */
    w = tl_ring_reserve(r, 24);
    assert_ptr_equal(w, base);
    fill(w, 24, 9);
    tl_ring_publish(r);
    assert_false(tl_ring_empty(r));
    p = tl_ring_peek(r, &n);
    assert_ptr_equal(p, base); /* the PAD was skipped */
    assert_int_equal(n, 24);
    assert_true(check(p, n, 9));
    tl_ring_consume(r);
    assert_true(tl_ring_empty(r));
    assert_null(tl_ring_peek(r, &n));
    /* The largest record still fits after the wrap. */
    w = tl_ring_reserve(r, tl_ring_max_record(r));
    assert_ptr_equal(w, base + 32);
    tl_ring_destroy(r);
}

/* ---- two threads ----------------------------------------------------------------------- */

#define N_RECORDS 10000000ull

typedef struct rec_head {
    uint64_t seq;
    uint32_t len; /* payload bytes after this header */
    uint32_t sum; /* checksum of seq and payload */
} rec_head;

static uint32_t checksum(uint64_t seq, const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)seq ^ (uint32_t)(seq >> 32);
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

typedef struct pair_ctx {
    tl_ring *r;
    atomic_int stop; /* set by the consumer on a mismatch so the producer does not spin */
} pair_ctx;

static void *producer(void *arg)
{
    pair_ctx *ctx = arg;
    tl_ring *r = ctx->r;
    tl_test_rng rng = {99};
    uint64_t seq = 0;
    while (seq < N_RECORDS && !atomic_load_explicit(&ctx->stop, memory_order_relaxed)) {
        uint64_t rnd = tl_test_rand(&rng);
        size_t len = rnd % 41; /* 0..40 payload bytes */
        unsigned batch = 1 + (unsigned)((rnd >> 16) % 4);
        unsigned done = 0;
        while (done < batch && seq < N_RECORDS) {
            unsigned char *w = tl_ring_reserve(r, sizeof(rec_head) + len);
            if (!w) {
                if (done || atomic_load_explicit(&ctx->stop, memory_order_relaxed))
                    break; /* publish what we have, then wait */
                sched_yield();
                continue;
            }
            rec_head h = {seq, (uint32_t)len, 0};
            unsigned char *payload = w + sizeof(rec_head);
            for (size_t i = 0; i < len; i++)
                payload[i] = (unsigned char)(seq * 7 + i);
            h.sum = checksum(seq, payload, len);
            memcpy(w, &h, sizeof(h));
            seq++;
            done++;
            len = (len * 5 + 3) % 41;
        }
        tl_ring_publish(r);
    }
    return NULL;
}

static void test_ring_two_threads(void **state)
{
    (void)state;
    pair_ctx ctx = {tl_ring_new(64 * 1024), 0};
    tl_ring *r = ctx.r;
    assert_non_null(r);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &ctx), 0);
    uint64_t expect = 0, bad = 0;
    while (expect < N_RECORDS) {
        size_t n;
        const unsigned char *p = tl_ring_peek(r, &n);
        if (!p) {
            sched_yield();
            continue;
        }
        rec_head h;
        if (n < sizeof(h)) {
            bad++;
            break;
        }
        memcpy(&h, p, sizeof(h));
        const unsigned char *payload = p + sizeof(h);
        int ok = h.seq == expect && n == sizeof(h) + h.len && h.sum == checksum(h.seq, payload, h.len);
        for (size_t i = 0; ok && i < h.len; i++)
            ok = payload[i] == (unsigned char)(h.seq * 7 + i);
        if (!ok) {
            bad++;
            break;
        }
        tl_ring_consume(r);
        expect++;
    }
    atomic_store(&ctx.stop, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(expect, N_RECORDS);
    assert_true(tl_ring_empty(r));
    tl_ring_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_basic),
        cmocka_unit_test(test_ring_full),
        cmocka_unit_test(test_ring_wraparound_model),
        cmocka_unit_test(test_ring_padding_marker),
        cmocka_unit_test(test_ring_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
