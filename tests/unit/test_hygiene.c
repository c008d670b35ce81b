/* tests/unit/test_hygiene.c - the steady-state per-event path allocates nothing and takes no
 * lock, over 1M events with the full example pack.
 *
 * The path is the one a worker runs for each message (bench_hotpath.c measures the same
 * one): decode (JSON and Avro, alternating, as on a mixed topic), route through the filters,
 * fold into the windows, per-trace state with its synthesised events, and an evaluation
 * every 1024 events. The events come from the synthetic fleet and are encoded on the fly,
 * so the fleet and the encoders are held to the same rule.
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
#include "config.h"
#include "decode.h"
#include "decode_err.h"
#include "fleet.h"
#include "json_encode.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "traces.h"

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
    tl_router router;
    tl_shard *shard;
    tl_traces *traces;
} pipeline;

static void emit_synth(void *ctx, const tl_event *ev)
{
    pipeline *p = ctx;
    tl_fold f;
    tl_router_route(&p->router, ev, &f);
    tl_shard_fold(p->shard, &f, UINT32_MAX);
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
    pipeline p;
    tl_shard_opts so = {0};
    p.shard = tl_shard_new(prog, &so);
    assert_non_null(p.shard);
    assert_int_equal(tl_router_init(&p.router, prog, 1), 0);
    p.traces = tl_traces_new(prog, 100000);
    assert_non_null(p.traces);
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
        tl_router_route(&p.router, &ev, &f);
        tl_shard_fold(p.shard, &f, UINT32_MAX);
        tl_traces_observe(p.traces, &ev, f.fbits, emit_synth, &p);
        if (ev.ts_ms > wm)
            wm = ev.ts_ms;
        if ((i & 1023) == 1023) {
            tl_traces_expire(p.traces, wm, emit_synth, &p);
            tl_shard_evaluate(p.shard, wm);
        }
    }
    uint64_t allocs = tl_alloc_count() - a0, nlocks = locks - l0, bytes = jem ? *jem - j0 : 0;
    print_message("measured %llu events: %llu tl_malloc calls, %llu bytes from jemalloc (%s), %llu lock calls\n",
                  (unsigned long long)decoded, (unsigned long long)allocs, (unsigned long long)bytes,
                  jem ? "counted" : "not linked", (unsigned long long)nlocks);
    assert_int_equal(decoded, measured);
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
    tl_shard_destroy(p.shard);
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
