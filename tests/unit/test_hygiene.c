/* tests/unit/test_hygiene.c - the steady-state per-event path allocates nothing and takes no
 * lock, over 1M events with the full example pack.
 *
 * The path is the one a worker runs for each message (bench_hotpath.c measures the same
 * one): decode (JSON and Avro, alternating, as on a mixed topic), route through the filters,
 * fold into the windows, per-trace state with its synthesised events, and an evaluation
 * every 1024 events. Series are split between two owners as with two workers: this
 * worker's own series are folded in place, the other owner's go through the combiner
 * (combine.h), or as FOLD records, into a ring, and at every batch end the deltas are sent
 * and the other owner drains the ring (merging them) and evaluates; both owners run on this
 * one thread so the counters see everything. The events come from the synthetic fleet and
 * are encoded on the fly, so the fleet and the encoders are held to the same rule.
 *
 * Three independent counters, each of which fails the test if it moves during the measured
 * batch (after a warm-up that lets every series, trace slot and sketch chunk come into being):
 *  - tl_alloc_count(): every allocation tripline makes goes through alloc.h;
 *  - jemalloc's per-thread "thread.allocated" byte counter: catches allocations that bypass
 *    alloc.h, including from libraries (not available under ASan, which brings its own
 *    allocator; the other two counters still run there);
 *  - lock acquisitions: this executable is linked with -Wl,--wrap for the pthread mutex,
 *    rwlock, spinlock and condition-variable entry points (see CMakeLists.txt), so every such
 *    call from tripline's code is counted here.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "avro_encode.h"
#include "combine.h"
#include "config.h"
#include "decode.h"
#include "decode_err.h"
#include "fleet.h"
#include "json_encode.h"
#include "ring.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "traces.h"
#include "xfer.h"

/* ---- lock counting (-Wl,--wrap=...) ------------------------------------------------- */

static _Atomic uint64_t locks;
volatile int hygiene_measuring; /* for a debugger: break tl_malloc if hygiene_measuring */

#define WRAP1(name, T)                                                                        \
    int __real_##name(T *);                                                                   \
    int __wrap_##name(T *x);                                                                  \
    int __wrap_##name(T *x)                                                                   \
    {                                                                                         \
        locks++;                                                                              \
        return __real_##name(x);                                                              \
    }
WRAP1(pthread_mutex_lock, pthread_mutex_t)
WRAP1(pthread_mutex_trylock, pthread_mutex_t)
WRAP1(pthread_rwlock_rdlock, pthread_rwlock_t)
WRAP1(pthread_rwlock_wrlock, pthread_rwlock_t)
WRAP1(pthread_spin_lock, pthread_spinlock_t)

int __real_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    locks++;
    return __real_pthread_cond_wait(c, m);
}

/* ---- jemalloc's per-thread allocation counter (absent under ASan) -------------------- */

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

static uint64_t *thread_allocated(void)
{
    uint64_t *p = NULL;
    size_t sz = sizeof p;
    if (!mallctl || mallctl("thread.allocatedp", &p, &sz, NULL, 0) != 0)
        return NULL;
    return p;
}

/* ---- the per-event path ---------------------------------------------------------------- */

typedef struct pipeline {
    const tl_program *prog;
    tl_router router;
    tl_shard *shard[2]; /* [0]: this worker's series, [1]: the other owner's */
    tl_traces *traces;
    tl_combiner *comb;  /* deltas for owner 1 */
    tl_ring *ring;      /* to owner 1 */
    tl_fold_key *keys;  /* owner 1's decoded FOLD keys */
} pipeline;

/* Owner 1's side: apply what arrived. */
static void drain(pipeline *p)
{
    const void *rec;
    size_t len;
    while ((rec = tl_ring_peek(p->ring, &len))) {
        assert_int_equal(tl_xfer_apply(rec, p->shard[1], p->keys, 1, p->prog->filter_words), 0);
        tl_ring_consume(p->ring);
    }
}

static void *reserve(void *ctx, size_t n)
{
    pipeline *p = ctx;
    void *buf;
    while (!(buf = tl_ring_reserve(p->ring, n))) { /* full: let the owner catch up */
        tl_ring_publish(p->ring);
        drain(p);
    }
    return buf;
}

/* Route and fold, as engine.c's fold_routed does with two workers. */
static void fold(pipeline *p, const tl_event *ev, tl_fold *f)
{
    tl_router_route(&p->router, ev, f);
    int ship = 0;
    for (uint32_t k = 0; k < f->nkeys; k++) {
        if (f->keys[k].owner != 1)
            continue;
        if (tl_combiner_add(p->comb, f, &f->keys[k], reserve, p) == 0)
            f->keys[k].owner = TL_OWNER_NONE;
        else
            ship = 1;
    }
    if (ship)
        tl_xfer_fold_encode(reserve(p, tl_xfer_fold_size(f, 1, p->prog->filter_words)), f, 1, p->prog->filter_words);
    tl_shard_fold(p->shard[0], f, 0);
}

static void emit_synth(void *ctx, const tl_event *ev)
{
    tl_fold f;
    fold(ctx, ev, &f);
}

static tl_program *load_pack(void)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    const char *path = "rules/support-agent.yaml";
    tl_program *p = tl_rules_load(&path, 1, &ro, &errs);
    if (!p)
        fprintf(stderr, "test_hygiene: %s\n", ebuf);
    return p;
}

static void test_steady_state_million_events_no_alloc_no_lock(void **state)
{
    (void)state;
    tl_program *prog = load_pack();
    assert_non_null(prog);
    assert_non_null(prog->traces); /* the pack has per-trace rules: that state is exercised */
    tl_config cfg;
    tl_config_init(&cfg);
    char err[256];
    tl_decoder *dec = tl_decoder_new(&cfg, err, sizeof err);
    assert_non_null(dec);
    pipeline p = {.prog = prog};
    tl_shard_opts so = {.nowners = 2};
    p.shard[0] = tl_shard_new(prog, &so);
    p.shard[1] = tl_shard_new(prog, &so);
    assert_non_null(p.shard[0]);
    assert_non_null(p.shard[1]);
    assert_int_equal(tl_router_init(&p.router, prog, 2), 0);
    p.traces = tl_traces_new(prog, 100000);
    p.comb = tl_combiner_new(prog, 0);
    p.ring = tl_ring_new(4u << 20);
    p.keys = tl_calloc(prog->ngroups + 1, sizeof *p.keys);
    assert_non_null(p.traces);
    assert_non_null(p.comb);
    assert_non_null(p.ring);
    assert_non_null(p.keys);
    /* A healthy fleet at 10 traces/s (~70 events/s): the warm-up covers about two hours of
     * event time, longer than the pack's longest window (1h), so every window has filled and
     * started recycling its slots and sketch chunks; the measured million events are the
     * next ~4 hours, crossing hourly roll-up buckets of the 7-day baseline. */
    tl_fleet_opts fo = {.seed = 5, .start_ms = 1800000000000LL, .traces_per_sec = 10,
                        .scenario = TL_FLEET_SCENARIO_NONE};
    tl_fleet *fleet = tl_fleet_new(&fo);
    assert_non_null(fleet);

    static char msg[65536], scratch_buf[1 << 20];
    tl_json_scratch scr = {scratch_buf, sizeof scratch_buf, 0};
    const uint64_t warmup = 500000, measured = 1000000;
    uint64_t a0 = 0, l0 = 0, j0 = 0, decoded = 0;
    uint64_t *jem = thread_allocated();
#ifdef TL_WITH_JEMALLOC
    assert_non_null(jem); /* linked with jemalloc (every build but ASan): its counter must work */
#endif
    int64_t wm = INT64_MIN;
    for (uint64_t i = 0; i < warmup + measured; i++) {
        if (i == warmup) {
            a0 = tl_alloc_count();
            l0 = locks;
            j0 = jem ? *jem : 0;
            decoded = 0;
            hygiene_measuring = 1;
        }
        tl_event src, ev;
        tl_fleet_next(fleet, &src);
        int avro = (i & 1) != 0;
        size_t len = avro ? tl_avro_encode_event_confluent(&src, 1, (uint8_t *)msg, sizeof msg)
                          : tl_json_encode_event(&src, msg, sizeof msg);
        assert_true(len > 0 && len <= sizeof msg);
        tl_decode_err derr;
        if (tl_decoder_decode(dec, msg, len, &ev, &scr, &derr) < 0)
            fail_msg("event %llu does not decode: %s at %u", (unsigned long long)i, tl_decode_code_name(derr.code),
                     derr.offset);
        decoded++;
        tl_fold f;
        fold(&p, &ev, &f);
        tl_traces_observe(p.traces, &ev, f.fbits, emit_synth, &p);
        if (ev.ts_ms > wm)
            wm = ev.ts_ms;
        if ((i & 1023) == 1023) {
            tl_traces_expire(p.traces, wm, emit_synth, &p);
            tl_combiner_flush(p.comb, reserve, &p); /* the batch end: deltas, then the owner */
            tl_ring_publish(p.ring);
            drain(&p);
            tl_shard_evaluate(p.shard[0], wm);
            tl_shard_evaluate(p.shard[1], wm);
        }
    }
    uint64_t allocs = tl_alloc_count() - a0, nlocks = locks - l0, bytes = jem ? *jem - j0 : 0;
    print_message("measured %llu events: %llu tl_malloc calls, %llu bytes from jemalloc (%s), %llu lock calls\n",
                  (unsigned long long)decoded, (unsigned long long)allocs, (unsigned long long)bytes,
                  jem ? "counted" : "not linked", (unsigned long long)nlocks);
    assert_int_equal(decoded, measured);
    tl_shard_stats s0, s1;
    tl_shard_stats_get(p.shard[0], &s0);
    tl_shard_stats_get(p.shard[1], &s1);
    assert_true(s0.folded > 0 && s1.folded > 0); /* both owners' paths ran */
    assert_int_equal(allocs, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(nlocks, 0);

    /* the counters are live: an allocation and a lock through the same paths register */
    a0 = tl_alloc_count();
    l0 = locks;
    j0 = jem ? *jem : 0;
    void *x = tl_malloc(100);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    pthread_mutex_unlock(&mu);
    assert_int_equal(tl_alloc_count() - a0, 1);
    assert_int_equal(locks - l0, 1);
    if (jem)
        assert_true(*jem - j0 >= 100);
    tl_free(x);

    tl_fleet_destroy(fleet);
    tl_traces_destroy(p.traces);
    tl_router_fini(&p.router);
    tl_shard_destroy(p.shard[0]);
    tl_shard_destroy(p.shard[1]);
    tl_combiner_destroy(p.comb);
    tl_ring_destroy(p.ring);
    tl_free(p.keys);
    tl_decoder_destroy(dec);
    tl_config_fini(&cfg);
    tl_program_destroy(prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_million_events_no_alloc_no_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
