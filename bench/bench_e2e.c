/* bench/bench_e2e.c - end to end: tripline's consume rate as a ratio to consume-and-discard.
 *
 * Why: librdkafka itself costs 0.5-1.4 us of CPU per message (../shared/KNOWLEDGE.md), so an
 * absolute events/s figure mostly measures the machine and the client library. What the
 * engine controls is how far below that ceiling it runs. This bench reads the same topic
 * contents twice (three times with --ideal-ns-*) in the same process, once with a
 * consume-and-discard loop (the baseline) and once with the whole engine (decode, filter, route, windows, the full example rule
 * pack rules/support-agent.yaml, alerts produced, offsets stored), and reports the ratio.
 *
 * Baseline = the engine's consumer without the engine: the same librdkafka consumer
 * properties as tl_engine_new() (copied below; keep them in sync with engine/engine.c), the
 * same pattern (subscribe, on assignment each partition queue forwarded round-robin to one
 * queue per worker thread, workers call rd_kafka_consume_batch_queue with a 10 ms timeout
 * and up to 1024 messages, the main thread polls the consumer queue for rebalances), the
 * same number of worker threads; the workers only destroy the messages.
 *
 * The embedded broker (librdkafka's mock cluster) keeps a bounded amount of data per
 * partition and silently drops older message sets. So the bench first measures how many
 * messages of the cell's format one partition retains, then works in ROUNDS: each round
 * pre-loads a fresh topic bench-<fmt>-<brokers>-r<k> (with enough partitions that at most
 * RETAIN_SAFETY of a partition's capacity is used) from one continuing fleet generator
 * (fleet.h, demo scenario, 50 traces/s of event time: 1M events span its 50 minutes; each
 * round's fresh engine sees only its share, so rules with a long `for` rarely get to fire
 * and "alerts" stays small), verifies that every partition
 * still starts at offset 0 and holds exactly what was produced (else the bench aborts), and
 * then runs (a) the baseline in a fresh consumer group and (b) a fresh tl_engine in a fresh
 * group with exit_at_end[, and (c) the ideal engine]. The first run rotates between rounds.
 *
 * Timing excludes the group join (about 3 s on the mock cluster): a run is timed from the
 * moment its first consumed messages are counted to the moment the count reaches the
 * loaded total, and the messages counted at the first instant are subtracted, so both runs
 * are measured the same way. The baseline's workers take these timestamps themselves; for
 * the engine a monitor thread polls tl_engine_stats_get() every 1 ms: the run starts when
 * `messages` (consumed) leaves 0 and ends when `events + malformed` (decoded and folded, or
 * dead-lettered) reaches the total. `messages` alone would end it early: the engine counts a
 * message when it is consumed, and may hold it back (its partition ran ahead of the
 * watermark) before folding it. Rates are total events over total active time, summed over
 * the rounds.
 *
 * Output: one JSON object per cell (format x brokers) on stdout, one human line per cell
 * and the machine once on stderr. Exits 1 if any run did not consume every loaded event,
 * the engine reported malformed events, or a topic lost data.
 *
 * Usage: bench_e2e [--smoke] [--events N] [--threads N] [--format json|avro] [--brokers 1|3]
 *                  [--ideal-ns-json N] [--ideal-ns-avro N]
 *   default: JSON and Avro x 1 and 3 brokers, 1,000,000 events per cell, 2 threads.
 *   --ideal-ns-FMT N: each round of that format also runs an "ideal engine": the baseline's
 *   consumer whose workers do, per message, a fixed computation that takes N ns on an idle
 *   core and touches no memory (calibrated at start; see spin_ns). It answers "what ratio
 *   would an engine reach whose whole per-event cost were N ns, as on an idle core, with no
 *   cache footprint?". bench/run.sh passes the hot path's whole-pack
 *   ns/event of the same run (bench_hotpath, one thread), so the ideal run is an engine exactly
 *   as fast end to end as tripline is in memory. The three runs of a round rotate their order.
 *   --smoke: 20,000 events, one round, 1 broker, JSON only. Run from the repository root
 *   (the rule pack is read from ./rules). Each run joins a fresh group, which takes about
 *   3 s on the mock cluster, so even --smoke takes about 8 s.
 *
 * Threading: the main thread drives everything; each run adds its own worker threads (and
 * the engine's monitor thread). Nothing here is on the engine's per-event path.
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bench_util.h"
#include "avro_encode.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "fleet.h"
#include "json_encode.h"
#include "log.h"
#include "mock.h"
#include "output.h"
#include "program.h"

#define BATCH_MAX 1024          /* as engine.c */
#define MAX_THREADS 64
#define RETAIN_SAFETY 0.6       /* use at most this share of a partition's measured capacity */
#define ROUND_TARGET 200000     /* events per round we aim for (fewer group joins) */
#define MAX_PARTITIONS 256
#define PROBE_CHUNK 5000
#define PROBE_LIMIT 2000000
#define STALL_NS (60 * 1000000000LL) /* a run with no progress this long has failed */
#define FLEET_SEED 42
#define FLEET_START_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define FLEET_TRACES_PER_SEC 50 /* ~1M events span the 50-minute demo scenario */

enum { FMT_JSON = 0, FMT_AVRO = 1 };
static const char *const fmt_names[] = {"json", "avro"};

/* What the bench adds on every client (the engine gets it through -X). */
static const tl_kv quiet_props[] = {{"log_level", "3"}};

/* Pre-loading producer: message sets of at most 256 KB, so a partition holds many of them
 * and the mock's drop-oldest retention works at a fine grain. */
static const tl_kv loader_props[] = {
    {"linger.ms", "20"},
    {"batch.num.messages", "2000"},
    {"batch.size", "262144"},
    {"queue.buffering.max.messages", "1000000"},
    {"queue.buffering.max.kbytes", "1048576"},
    {"compression.type", "none"},
    {"log_level", "3"},
};

/* CPU time of the whole process (every thread: the client's, the embedded brokers', the
 * engine's), ns. Sampled at the same instants as the run's start and end, it tells how much
 * CPU an event costs each way, which on a machine with few cores bounds the ratio. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The ideal engine's work: a fixed amount of computation that touches no memory, sized to
 * take ns on an idle core. It is a count of steps, not a deadline on the clock: a spin until
 * a time would get the time its thread spends descheduled (by the client's broker thread or
 * the mock cluster, on the same two cores) as free work, and overstate what an engine of that
 * cost reaches. The steps are one dependent multiply-add chain, so their speed does not vary
 * with what else the core's caches hold. */
static double spin_steps_per_ns; /* set once by spin_calibrate() */
static _Atomic uint64_t spin_sink;

static uint64_t spin_steps(uint64_t n)
{
    uint64_t x = n | 1;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x)); /* keep every step */
    }
    return x;
}

/* Steps per ns on this core while the process is otherwise idle: the fastest of 7 tries of
 * 5M steps (about 5.5 ms each on this machine, 0.91 steps/ns), so a try that was descheduled
 * does not count. */
static void spin_calibrate(void)
{
    const uint64_t n = 5000000;
    double best = 0;
    for (int i = 0; i < 7; i++) {
        int64_t t0 = tl_bench_now_ns();
        atomic_fetch_add(&spin_sink, spin_steps(n));
        double r = (double)n / (double)(tl_bench_now_ns() - t0);
        best = r > best ? r : best;
    }
    spin_steps_per_ns = best;
}

static void spin_ns(int64_t ns)
{
    atomic_fetch_add_explicit(&spin_sink, spin_steps((uint64_t)((double)ns * spin_steps_per_ns)), memory_order_relaxed);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- machine ------------------------------------------------------------------------------- */

/* ---- loading topics ---------------------------------------------------------------------- */

typedef struct loader {
    rd_kafka_t *rk;
    int fmt;
    _Atomic uint64_t failed; /* delivery reports with an error */
    uint64_t bytes;          /* payload bytes produced, all time */
    uint64_t produced;
    char buf[65536];
} loader;

static void loader_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        atomic_fetch_add(&((loader *)opaque)->failed, 1);
}

static loader *loader_new(const char *bootstraps, int fmt)
{
    loader *l = tl_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->fmt = fmt;
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_bench_conf_set(conf, loader_props, NELEM(loader_props), "bench_e2e") < 0) {
        rd_kafka_conf_destroy(conf);
        tl_free(l);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, loader_dr);
    rd_kafka_conf_set_opaque(conf, l);
    l->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!l->rk) {
        fprintf(stderr, "bench_e2e: cannot create producer: %s\n", e);
        rd_kafka_conf_destroy(conf);
        tl_free(l);
        return NULL;
    }
    return l;
}

static void loader_destroy(loader *l)
{
    if (!l)
        return;
    if (l->rk) {
        rd_kafka_flush(l->rk, 10000);
        rd_kafka_destroy(l->rk);
    }
    tl_free(l);
}

/* Produce n events from the fleet to topic (keyed by trace id, as tl_gen does), then wait
 * until every one is acknowledged. 0, or -1 if any delivery failed. */
static int loader_produce(loader *l, tl_fleet *fleet, const char *topic, uint64_t n)
{
    tl_event ev;
    uint64_t failed0 = atomic_load(&l->failed);
    for (uint64_t i = 0; i < n; i++) {
        tl_fleet_next(fleet, &ev);
        size_t len = l->fmt == FMT_JSON ? tl_json_encode_event(&ev, l->buf, sizeof l->buf)
                                        : tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)l->buf, sizeof l->buf);
        if (!len) {
            fprintf(stderr, "bench_e2e: an event does not encode\n");
            return -1;
        }
        const tl_str *tid = &ev.str[TL_S_TRACE_ID];
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                l->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)tid->p, tid->n), RD_KAFKA_V_VALUE(l->buf, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "bench_e2e: produce to %s: %s\n", topic, rd_kafka_err2str(err));
                return -1;
            }
            rd_kafka_poll(l->rk, 10);
        }
        l->bytes += len;
        l->produced++;
        if ((i & 1023) == 0)
            rd_kafka_poll(l->rk, 0);
    }
    if (rd_kafka_flush(l->rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(l->rk) > 0) {
        fprintf(stderr, "bench_e2e: producing to %s did not finish\n", topic);
        return -1;
    }
    if (atomic_load(&l->failed) != failed0) {
        fprintf(stderr, "bench_e2e: %llu deliveries to %s failed\n",
                (unsigned long long)(atomic_load(&l->failed) - failed0), topic);
        return -1;
    }
    return 0;
}

/* Sum of the high watermarks over the partitions and the largest low watermark (0 means
 * nothing was dropped anywhere). -1 on a query error. */
static int topic_watermarks(rd_kafka_t *rk, const char *topic, int partitions, int64_t *sum_high, int64_t *max_low)
{
    *sum_high = 0;
    *max_low = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "bench_e2e: watermarks of %s [%d]: %s\n", topic, p, rd_kafka_err2str(err));
            return -1;
        }
        *sum_high += hi;
        if (lo > *max_low)
            *max_low = lo;
    }
    return 0;
}

/* How many messages of this format one mock partition keeps: fill a 1-partition topic in
 * chunks until the low watermark leaves 0; capacity = high - low then. Uses its own fleet so
 * the benchmark's event sequence does not depend on the probe. */
static int probe_retention(tl_mock *m, loader *l, uint64_t *retained, double *avg_bytes)
{
    char topic[64];
    snprintf(topic, sizeof topic, "bench-probe-%s", fmt_names[l->fmt]);
    if (tl_mock_topic(m, topic, 1) < 0) {
        fprintf(stderr, "bench_e2e: cannot create %s\n", topic);
        return -1;
    }
    tl_fleet_opts fo = {.seed = FLEET_SEED + 1, .start_ms = FLEET_START_MS, .traces_per_sec = FLEET_TRACES_PER_SEC,
                        .scenario = TL_FLEET_SCENARIO_DEMO, .n_services = 3};
    tl_fleet *f = tl_fleet_new(&fo);
    if (!f)
        return -1;
    uint64_t bytes0 = l->bytes, n = 0;
    int rc = -1;
    *retained = 0;
    while (n < PROBE_LIMIT) {
        if (loader_produce(l, f, topic, PROBE_CHUNK) < 0)
            goto out;
        n += PROBE_CHUNK;
        int64_t hi, lo;
        if (topic_watermarks(l->rk, topic, 1, &hi, &lo) < 0)
            goto out;
        if (hi != (int64_t)n) {
            fprintf(stderr, "bench_e2e: probe: high watermark %lld after %llu messages\n", (long long)hi,
                    (unsigned long long)n);
            goto out;
        }
        if (lo > 0) {
            *retained = (uint64_t)(hi - lo);
            break;
        }
    }
    if (!*retained)
        *retained = PROBE_LIMIT; /* never dropped anything: treat the probe size as the bound */
    *avg_bytes = (double)(l->bytes - bytes0) / (double)n;
    rc = 0;
out:
    tl_fleet_destroy(f);
    return rc;
}

/* ---- the baseline: the engine's consumer pattern, messages destroyed ------------------------ */

typedef struct baseline baseline;

typedef struct base_worker {
    baseline *b;
    rd_kafka_queue_t *q;
    pthread_t th;
    int started;
} base_worker;

struct baseline {
    rd_kafka_t *rk;
    base_worker w[MAX_THREADS];
    int nw;
    uint64_t total;
    _Atomic int assigned;
    _Atomic int stop;
    _Atomic uint64_t count;
    _Atomic int64_t t0, t1, c0, c1; /* wall and process CPU at the run's start and end */
    _Atomic uint64_t n0;
    tl_bench_tcpu tc0, tc1; /* CPU by thread class, taken with c0 and c1 */
    int64_t work_ns;        /* the ideal engine's CPU per message (0: discard) */
};

static void *base_worker_main(void *arg)
{
    base_worker *w = arg;
    baseline *b = w->b;
    rd_kafka_message_t **msgs = tl_malloc(BATCH_MAX * sizeof *msgs);
    if (!msgs)
        return NULL;
    while (!atomic_load(&b->stop)) {
        if (!atomic_load(&b->assigned)) {
            sleep_us(1000);
            continue;
        }
        ssize_t n = rd_kafka_consume_batch_queue(w->q, 10, msgs, BATCH_MAX);
        if (n <= 0)
            continue;
        uint64_t got = 0;
        for (ssize_t i = 0; i < n; i++) {
            got += msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR;
            rd_kafka_message_destroy(msgs[i]);
        }
        if (!got)
            continue;
        if (b->work_ns)
            spin_ns((int64_t)got * b->work_ns);
        uint64_t prev = atomic_fetch_add(&b->count, got);
        int64_t t = tl_bench_now_ns();
        if (prev == 0) {
            atomic_store(&b->n0, got);
            atomic_store(&b->t0, t);
            atomic_store(&b->c0, cpu_ns());
            tl_bench_thread_cpu(&b->tc0);
        }
        if (prev + got >= b->total && prev < b->total) {
            atomic_store(&b->t1, t);
            atomic_store(&b->c1, cpu_ns());
            tl_bench_thread_cpu(&b->tc1);
        }
    }
    tl_free(msgs);
    return NULL;
}

static void base_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque)
{
    baseline *b = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(rk, parts->elems[i].topic, parts->elems[i].partition);
            if (pq) {
                rd_kafka_queue_forward(pq, b->w[i % b->nw].q);
                rd_kafka_queue_destroy(pq);
            }
        }
        rd_kafka_assign(rk, parts);
        atomic_store(&b->assigned, 1);
        return;
    }
    /* revocation only happens at close, after the workers have stopped */
    atomic_store(&b->assigned, 0);
    for (int i = 0; parts && i < parts->cnt; i++) {
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(rk, parts->elems[i].topic, parts->elems[i].partition);
        if (pq) {
            rd_kafka_queue_forward(pq, NULL);
            rd_kafka_queue_destroy(pq);
        }
    }
    rd_kafka_assign(rk, NULL);
}

typedef struct run_result {
    uint64_t consumed;  /* messages counted by the run */
    uint64_t timed;     /* messages consumed inside [t0, t1] */
    double seconds;     /* t1 - t0 */
    double cpu_seconds; /* process CPU time over [t0, t1] */
    int64_t tc_ns[TL_TC_N]; /* the same, by thread class */
    uint64_t events, malformed, alerts, late, holds;
    uint64_t consumes, ring_waits; /* the engine's (tl_engine_stats) */
} run_result;

static int run_baseline(const char *bootstraps, const char *group, const char *topic, int threads, uint64_t total,
                        int64_t work_ns, run_result *res)
{
    memset(res, 0, sizeof *res);
    baseline *b = tl_calloc(1, sizeof *b);
    if (!b)
        return -1;
    int rc = -1;
    b->nw = threads;
    b->total = total;
    b->work_ns = work_ns;
    char e[256];
    size_t n_engine_defaults;
    const tl_kv *engine_defaults = tl_engine_consumer_defaults(&n_engine_defaults); /* the engine's own */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_bench_conf_set(conf, engine_defaults, n_engine_defaults, "bench_e2e") < 0 ||
        tl_bench_conf_set(conf, quiet_props, NELEM(quiet_props), "bench_e2e") < 0) {
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_conf_set_rebalance_cb(conf, base_rebalance);
    rd_kafka_conf_set_opaque(conf, b);
    b->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!b->rk) {
        fprintf(stderr, "bench_e2e: cannot create consumer: %s\n", e);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_poll_set_consumer(b->rk);
    for (int i = 0; i < b->nw; i++) {
        b->w[i].b = b;
        b->w[i].q = rd_kafka_queue_new(b->rk);
        if (!b->w[i].q)
            goto out;
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(b->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) {
        fprintf(stderr, "bench_e2e: subscribe: %s\n", rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < b->nw; i++) {
        if (pthread_create(&b->w[i].th, NULL, base_worker_main, &b->w[i]) != 0)
            goto out;
        b->w[i].started = 1;
        char name[32];
        snprintf(name, sizeof name, "base:worker%d", i);
        name[15] = '\0';
        pthread_setname_np(b->w[i].th, name);
    }
    uint64_t last = 0;
    int64_t last_change = tl_bench_now_ns();
    while (atomic_load(&b->count) < total) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->rk, 10);
        if (m) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "bench_e2e: baseline consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        uint64_t c = atomic_load(&b->count);
        int64_t t = tl_bench_now_ns();
        if (c != last) {
            last = c;
            last_change = t;
        } else if (t - last_change > STALL_NS) {
            fprintf(stderr, "bench_e2e: baseline stalled at %llu of %llu messages\n", (unsigned long long)c,
                    (unsigned long long)total);
            break;
        }
    }
    rc = 0;
out:
    atomic_store(&b->stop, 1);
    for (int i = 0; i < b->nw; i++)
        if (b->w[i].started)
            pthread_join(b->w[i].th, NULL);
    res->consumed = atomic_load(&b->count);
    res->events = res->consumed;
    if (res->consumed >= total && atomic_load(&b->t1) > atomic_load(&b->t0)) {
        res->timed = total - atomic_load(&b->n0);
        res->seconds = (double)(atomic_load(&b->t1) - atomic_load(&b->t0)) * 1e-9;
        res->cpu_seconds = (double)(atomic_load(&b->c1) - atomic_load(&b->c0)) * 1e-9;
        for (int k = 0; k < TL_TC_N; k++) /* the workers are joined: their snapshots are visible */
            res->tc_ns[k] = b->tc1.ns[k] - b->tc0.ns[k];
    }
    if (b->rk)
        rd_kafka_consumer_close(b->rk);
    for (int i = 0; i < b->nw; i++)
        if (b->w[i].q)
            rd_kafka_queue_destroy(b->w[i].q);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    tl_free(b);
    return rc;
}

/* ---- tripline --------------------------------------------------------------------------------- */

typedef struct monitor {
    tl_engine *e;
    uint64_t total;
    _Atomic int done;
    int64_t t0, t1, c0, c1;
    tl_bench_tcpu tc0, tc1;
    uint64_t n0;
    int stalled;
} monitor;

static void *monitor_main(void *arg)
{
    monitor *m = arg;
    uint64_t last = 0;
    int64_t last_change = tl_bench_now_ns();
    while (!atomic_load(&m->done)) {
        tl_engine_stats s;
        tl_engine_stats_get(m->e, &s);
        int64_t t = tl_bench_now_ns();
        uint64_t done = s.events + s.malformed;
        if (s.messages > 0 && !m->t0) {
            m->t0 = t;
            m->c0 = cpu_ns();
            tl_bench_thread_cpu(&m->tc0);
            m->n0 = done;
        }
        if (done >= m->total) {
            m->t1 = t;
            m->c1 = cpu_ns();
            tl_bench_thread_cpu(&m->tc1);
            break;
        }
        if (done != last) {
            last = done;
            last_change = t;
        } else if (t - last_change > STALL_NS) {
            m->stalled = 1;
            tl_engine_stop(m->e);
            break;
        }
        sleep_us(1000);
    }
    return NULL;
}

static int run_tripline(const char *bootstraps, const char *group, const char *topic, int fmt, int threads,
                        const tl_program *prog, uint64_t total, run_result *res)
{
    memset(res, 0, sizeof *res);
    tl_config cfg;
    tl_config_init(&cfg);
    char thr[16], err[1024];
    snprintf(thr, sizeof thr, "%d", threads);
    char *args[] = {"--brokers", (char *)bootstraps, "--group", (char *)group, "--input", (char *)topic,
                    "--output", "bench-alerts", "--dlq", "bench-dlq", "--rules", "rules",
                    "--input-format", (char *)fmt_names[fmt], "--threads", thr, "--exit-at-end",
                    "--no-print-alerts", "--stats-interval", "0", "-X", "log_level=3"};
    tl_engine *e = NULL;
    int rc = -1;
    if (tl_config_apply_args(&cfg, (int)NELEM(args), args, err, sizeof err) < 0 ||
        tl_config_validate(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bench_e2e: engine config: %s\n", err);
        goto out;
    }
    cfg.print_alerts = 0;
    e = tl_engine_new(&cfg, prog, err, sizeof err);
    if (!e) {
        fprintf(stderr, "bench_e2e: tl_engine_new: %s\n", err);
        goto out;
    }
    monitor mon = {.e = e, .total = total};
    pthread_t mt;
    if (pthread_create(&mt, NULL, monitor_main, &mon) != 0)
        goto out;
    int erc = tl_engine_run(e);
    atomic_store(&mon.done, 1);
    pthread_join(mt, NULL);
    tl_engine_stats s;
    tl_engine_stats_get(e, &s);
    res->consumed = s.messages;
    res->events = s.events;
    res->malformed = s.malformed;
    res->alerts = s.alerts;
    res->late = s.late;
    res->holds = s.holds;
    res->consumes = s.consumes;
    res->ring_waits = s.ring_waits;
    if (mon.stalled)
        fprintf(stderr, "bench_e2e: tripline stalled at %llu of %llu messages\n", (unsigned long long)s.messages,
                (unsigned long long)total);
    if (mon.t1 > mon.t0 && mon.t0) {
        res->timed = total - mon.n0;
        res->seconds = (double)(mon.t1 - mon.t0) * 1e-9;
        res->cpu_seconds = (double)(mon.c1 - mon.c0) * 1e-9;
        for (int k = 0; k < TL_TC_N; k++)
            res->tc_ns[k] = mon.tc1.ns[k] - mon.tc0.ns[k];
    }
    rc = erc ? -1 : 0;
out:
    tl_engine_destroy(e);
    tl_config_fini(&cfg);
    return rc;
}

/* ---- one cell: a format and a broker count ------------------------------------------------- */

#define MAX_ROUNDS 256 /* single-round ratios kept for the median (the sums take every round) */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* {"workers":N,...}: CPU ns per event of each thread class (bench_util.h) */
static void by_thread(char *out, size_t cap, const int64_t *tc, uint64_t n)
{
    size_t k = (size_t)snprintf(out, cap, "{");
    for (int c = 0; c < TL_TC_N && k < cap; c++)
        k += (size_t)snprintf(out + k, cap - k, "%s\"%s\":%.0f", c ? "," : "", tl_bench_tc_names[c],
                              n ? (double)tc[c] / (double)n : 0.0);
    if (k < cap)
        snprintf(out + k, cap - k, "}");
}

typedef struct cell_result {
    uint64_t events, rounds, partitions, retained, alerts, malformed, late, holds;
    uint64_t tl_messages, consumes, ring_waits;
    /* Single rounds' ratios to the baseline (a round's runs read the same topic back to back),
     * tripline's and the ideal engine's, of the first MAX_ROUNDS rounds: their spread says how
     * far one figure can be trusted, and their median is robust to one run that the machine
     * slowed down, which the summed ratio is not. Sorted at the end of the cell. */
    double round_ratio[MAX_ROUNDS], round_ideal[MAX_ROUNDS];
    uint32_t n_rounds_kept;
    double ratio_median, ideal_median;
    /* the ideal engine (--ideal-ns-*), when run */
    int64_t ideal_ns;
    uint64_t ideal_n;
    double ideal_s;
    double avg_bytes;
    double base_s, tl_s, base_cpu, tl_cpu;
    int64_t base_tc[TL_TC_N], tl_tc[TL_TC_N], ideal_tc[TL_TC_N]; /* CPU by thread class, ns */
    uint64_t base_n, tl_n;
    double wall_s;
} cell_result;

static double median(double *v, uint32_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_cell(int fmt, int brokers, int threads, uint64_t events, int smoke, int64_t ideal_ns, const tl_program *prog,
                    cell_result *cr)
{
    memset(cr, 0, sizeof *cr);
    int64_t w0 = tl_bench_now_ns();
    char err[256];
    tl_mock mock;
    if (tl_mock_start(&mock, brokers, err, sizeof err) < 0) {
        fprintf(stderr, "bench_e2e: %s\n", err);
        return -1;
    }
    int rc = -1;
    loader *l = NULL;
    tl_fleet *fleet = NULL;
    if (tl_mock_topic(&mock, "bench-alerts", 3) < 0 || tl_mock_topic(&mock, "bench-dlq", 1) < 0) {
        fprintf(stderr, "bench_e2e: cannot create the output topics\n");
        goto out;
    }
    l = loader_new(mock.bootstraps, fmt);
    if (!l)
        goto out;
    if (probe_retention(&mock, l, &cr->retained, &cr->avg_bytes) < 0)
        goto out;

    /* Design the rounds: enough partitions for ROUND_TARGET events at RETAIN_SAFETY. */
    uint64_t safe = (uint64_t)((double)cr->retained * RETAIN_SAFETY);
    if (safe < 100) {
        fprintf(stderr, "bench_e2e: a partition retains only %llu messages\n", (unsigned long long)cr->retained);
        goto out;
    }
    uint64_t target = smoke ? events : (events < ROUND_TARGET ? events : ROUND_TARGET);
    uint64_t parts = (target + safe - 1) / safe;
    if (parts < (uint64_t)threads * 2)
        parts = (uint64_t)threads * 2;
    if (parts > MAX_PARTITIONS)
        parts = MAX_PARTITIONS;
    uint64_t per_round_max = parts * safe;
    cr->rounds = smoke ? 1 : (events + per_round_max - 1) / per_round_max;
    if (!smoke && cr->rounds < 2 && events >= 2 * (uint64_t)threads * 1000)
        cr->rounds = 2; /* at least one round in each order */
    if (smoke && events > per_round_max) {
        fprintf(stderr, "bench_e2e: %llu events do not fit one round of %llu partitions\n",
                (unsigned long long)events, (unsigned long long)parts);
        goto out;
    }
    cr->partitions = parts;
    fprintf(stderr,
            "  %s/%d broker%s: a partition retains %llu messages of %.0f B; %llu rounds of <= %llu events over %llu "
            "partitions\n",
            fmt_names[fmt], brokers, brokers > 1 ? "s" : "", (unsigned long long)cr->retained, cr->avg_bytes,
            (unsigned long long)cr->rounds, (unsigned long long)((events + cr->rounds - 1) / cr->rounds),
            (unsigned long long)parts);

    tl_fleet_opts fo = {.seed = FLEET_SEED, .start_ms = FLEET_START_MS, .traces_per_sec = FLEET_TRACES_PER_SEC,
                        .scenario = TL_FLEET_SCENARIO_DEMO, .n_services = 3};
    fleet = tl_fleet_new(&fo);
    if (!fleet)
        goto out;
    for (uint64_t k = 1; k <= cr->rounds; k++) {
        uint64_t n = events / cr->rounds + (k <= events % cr->rounds ? 1 : 0);
        char topic[96], bgroup[112], tgroup[112], igroup[112];
        snprintf(topic, sizeof topic, "bench-%s-%d-r%llu", fmt_names[fmt], brokers, (unsigned long long)k);
        snprintf(bgroup, sizeof bgroup, "%s-baseline", topic);
        snprintf(tgroup, sizeof tgroup, "%s-tripline", topic);
        snprintf(igroup, sizeof igroup, "%s-ideal", topic);
        if (tl_mock_topic(&mock, topic, (int)parts) < 0) {
            fprintf(stderr, "bench_e2e: cannot create %s\n", topic);
            goto out;
        }
        int64_t p0 = tl_bench_now_ns();
        if (loader_produce(l, fleet, topic, n) < 0)
            goto out;
        int64_t hi, lo;
        if (topic_watermarks(l->rk, topic, (int)parts, &hi, &lo) < 0)
            goto out;
        if (lo != 0 || hi != (int64_t)n) {
            fprintf(stderr,
                    "bench_e2e: %s lost data: %lld of %llu messages, a low watermark at %lld; the mock "
                    "cluster's retention was exceeded, aborting\n",
                    topic, (long long)hi, (unsigned long long)n, (long long)lo);
            goto out;
        }
        double load_s = (double)(tl_bench_now_ns() - p0) * 1e-9;
        run_result rb, rt, ri;
        memset(&ri, 0, sizeof ri);
        /* the order rotates between rounds: baseline, tripline[, ideal] first in turn */
        int nruns = ideal_ns ? 3 : 2, first = (int)((k - 1) % (uint64_t)nruns);
        static const char *const run_names[] = {"baseline", "tripline", "ideal"};
        for (int step = 0; step < nruns; step++) {
            int which = (first + step) % nruns, r;
            if (which == 0)
                r = run_baseline(mock.bootstraps, bgroup, topic, threads, n, 0, &rb);
            else if (which == 1)
                r = run_tripline(mock.bootstraps, tgroup, topic, fmt, threads, prog, n, &rt);
            else
                r = run_baseline(mock.bootstraps, igroup, topic, threads, n, ideal_ns, &ri);
            if (r < 0)
                goto out;
        }
        if (ideal_ns && (ri.consumed != n || ri.seconds <= 0)) {
            fprintf(stderr, "bench_e2e: %s: the ideal engine consumed %llu of %llu messages\n", topic,
                    (unsigned long long)ri.consumed, (unsigned long long)n);
            goto out;
        }
        if (rb.consumed != n || rb.seconds <= 0) {
            fprintf(stderr, "bench_e2e: %s: the baseline consumed %llu of %llu messages\n", topic,
                    (unsigned long long)rb.consumed, (unsigned long long)n);
            goto out;
        }
        if (rt.consumed != n || rt.events != n || rt.malformed != 0 || rt.seconds <= 0) {
            fprintf(stderr, "bench_e2e: %s: tripline consumed %llu of %llu messages (%llu events, %llu malformed)\n",
                    topic, (unsigned long long)rt.consumed, (unsigned long long)n, (unsigned long long)rt.events,
                    (unsigned long long)rt.malformed);
            goto out;
        }
        cr->events += n;
        cr->base_n += rb.timed;
        cr->base_s += rb.seconds;
        cr->tl_n += rt.timed;
        cr->tl_s += rt.seconds;
        cr->base_cpu += rb.cpu_seconds;
        cr->tl_cpu += rt.cpu_seconds;
        for (int c = 0; c < TL_TC_N; c++) {
            cr->base_tc[c] += rb.tc_ns[c];
            cr->tl_tc[c] += rt.tc_ns[c];
            cr->ideal_tc[c] += ri.tc_ns[c];
        }
        cr->alerts += rt.alerts;
        cr->malformed += rt.malformed;
        cr->late += rt.late;
        cr->holds += rt.holds;
        cr->tl_messages += rt.consumed;
        cr->consumes += rt.consumes;
        cr->ring_waits += rt.ring_waits;
        double base_rate = (double)rb.timed / rb.seconds, ideal_rate = ideal_ns ? (double)ri.timed / ri.seconds : 0;
        if (cr->n_rounds_kept < MAX_ROUNDS) {
            cr->round_ratio[cr->n_rounds_kept] = ((double)rt.timed / rt.seconds) / base_rate;
            cr->round_ideal[cr->n_rounds_kept] = ideal_rate / base_rate;
            cr->n_rounds_kept++;
        }
        cr->ideal_n += ri.timed;
        cr->ideal_s += ri.seconds;
        char ideal_txt[64] = "";
        if (ideal_ns)
            snprintf(ideal_txt, sizeof ideal_txt, ", ideal %.0f/s", ideal_rate);
        fprintf(stderr, "    round %llu (%s first): %llu events loaded in %.2fs; baseline %.0f/s, tripline %.0f/s%s\n",
                (unsigned long long)k, run_names[first], (unsigned long long)n, load_s, base_rate,
                (double)rt.timed / rt.seconds, ideal_txt);
    }
    cr->ideal_ns = ideal_ns;
    cr->ideal_median = median(cr->round_ideal, cr->n_rounds_kept);
    cr->ratio_median = median(cr->round_ratio, cr->n_rounds_kept); /* sorts round_ratio */
    rc = 0;
out:
    tl_fleet_destroy(fleet);
    loader_destroy(l);
    tl_mock_stop(&mock);
    cr->wall_s = (double)(tl_bench_now_ns() - w0) * 1e-9;
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_e2e [--smoke] [--events N] [--threads N] [--format json|avro] [--brokers 1|3] "
                    "[--ideal-ns-json N] [--ideal-ns-avro N]\n");
}

int main(int argc, char **argv)
{
    int smoke = 0, threads = 2, only_fmt = -1, only_brokers = 0;
    int64_t ideal_ns[2] = {0, 0}; /* by format */
    uint64_t events = 1000000;
    int events_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) {
            smoke = 1;
        } else if (strcmp(a, "--events") == 0 && v) {
            events = strtoull(v, NULL, 10);
            events_set = 1;
            i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            threads = atoi(v);
            i++;
        } else if (strcmp(a, "--format") == 0 && v && (strcmp(v, "json") == 0 || strcmp(v, "avro") == 0)) {
            only_fmt = v[0] == 'j' ? FMT_JSON : FMT_AVRO;
            i++;
        } else if (strcmp(a, "--brokers") == 0 && v) {
            only_brokers = atoi(v);
            i++;
        } else if ((strcmp(a, "--ideal-ns-json") == 0 || strcmp(a, "--ideal-ns-avro") == 0) && v) {
            ideal_ns[strcmp(a, "--ideal-ns-json") == 0 ? FMT_JSON : FMT_AVRO] = (int64_t)atof(v);
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (threads < 1 || threads > MAX_THREADS || events < 1 || only_brokers < 0 || only_brokers > 5 ||
        ideal_ns[FMT_JSON] < 0 || ideal_ns[FMT_JSON] > 1000000 || ideal_ns[FMT_AVRO] < 0 || ideal_ns[FMT_AVRO] > 1000000) {
        usage();
        return 2;
    }
    if (smoke) {
        if (!events_set)
            events = 20000;
        only_fmt = FMT_JSON;
        only_brokers = 1;
        if (!ideal_ns[FMT_JSON])
            ideal_ns[FMT_JSON] = 500; /* so the smoke run covers the ideal engine too */
    }
    tl_log_set_level(TL_LOG_WARN);
    if (ideal_ns[FMT_JSON] || ideal_ns[FMT_AVRO])
        spin_calibrate(); /* before any thread of the client or the mock cluster runs */

    char model[256];
    tl_bench_cpu_model(model, sizeof model);
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(stderr, "bench_e2e: machine: %ld cpus, %s; %d worker threads, %llu events per cell\n", nproc, model,
            threads, (unsigned long long)events);

    /* The full example rule pack, loaded as `tripline run` loads it. */
    tl_config rcfg;
    tl_config_init(&rcfg);
    tl_program *prog = tl_cli_load_rules(&rcfg);
    tl_config_fini(&rcfg);
    if (!prog) {
        fprintf(stderr, "bench_e2e: cannot load the rules (run from the repository root)\n");
        return 1;
    }

    static const int broker_counts[] = {1, 3};
    int rc = 0;
    int64_t t0 = tl_bench_now_ns();
    for (int fmt = FMT_JSON; fmt <= FMT_AVRO && rc == 0; fmt++) {
        if (only_fmt >= 0 && fmt != only_fmt)
            continue;
        for (size_t bi = 0; bi < NELEM(broker_counts) && rc == 0; bi++) {
            int brokers = broker_counts[bi];
            if (only_brokers && brokers != only_brokers)
                continue;
            cell_result cr;
            if (run_cell(fmt, brokers, threads, events, smoke, ideal_ns[fmt], prog, &cr) < 0) {
                fprintf(stderr, "bench_e2e: %s/%d brokers FAILED\n", fmt_names[fmt], brokers);
                rc = 1;
                break;
            }
            double base_rate = (double)cr.base_n / cr.base_s, tl_rate = (double)cr.tl_n / cr.tl_s;
            char base_by[256], tl_by[256], ideal_by[256], ideal_json[512] = "", ideal_txt[256] = "";
            if (cr.ideal_ns) {
                double ideal_rate = (double)cr.ideal_n / cr.ideal_s;
                by_thread(ideal_by, sizeof ideal_by, cr.ideal_tc, cr.ideal_n);
                snprintf(ideal_json, sizeof ideal_json,
                         "\"ideal_ns\":%lld,\"ideal_events_per_sec\":%.0f,\"ideal_ratio\":%.3f,"
                         "\"ideal_round_ratio_median\":%.3f,\"tripline_vs_ideal\":%.3f,"
                         "\"ideal_cpu_ns_per_event_by_thread\":%s,\"spin_steps_per_ns\":%.3f,",
                         (long long)cr.ideal_ns, ideal_rate, ideal_rate / base_rate, cr.ideal_median, tl_rate / ideal_rate,
                         ideal_by, spin_steps_per_ns);
                snprintf(ideal_txt, sizeof ideal_txt,
                         "; an ideal engine of %lld ns/event: %.2fM ev/s, ratio %.2f (median %.2f), %.0f ns in its workers",
                         (long long)cr.ideal_ns, ideal_rate / 1e6, ideal_rate / base_rate, cr.ideal_median,
                         (double)cr.ideal_tc[TL_TC_WORKER] / (double)cr.ideal_n);
            }
            by_thread(base_by, sizeof base_by, cr.base_tc, cr.base_n);
            by_thread(tl_by, sizeof tl_by, cr.tl_tc, cr.tl_n);
            printf("{\"bench\":\"e2e\",\"format\":\"%s\",\"brokers\":%d,\"threads\":%d,\"events\":%llu,"
                   "\"baseline_events_per_sec\":%.0f,\"tripline_events_per_sec\":%.0f,\"ratio\":%.3f,\"round_ratio_median\":%.3f,\"round_ratio_min\":%.3f,\"round_ratio_max\":%.3f,"
                   "\"rounds\":%llu,\"partitions\":%llu,\"alerts\":%llu,\"malformed\":%llu,\"late\":%llu,\"held_back\":%llu,\"batch_avg\":%.0f,\"ring_waits\":%llu,"
                   "\"baseline_seconds\":%.3f,\"tripline_seconds\":%.3f,\"message_bytes\":%.0f,"
                   "\"partition_retains\":%llu,\"baseline_cpu_ns_per_event\":%.0f,\"tripline_cpu_ns_per_event\":%.0f,"
                   "\"baseline_cores_busy\":%.2f,\"tripline_cores_busy\":%.2f,"
                   "\"baseline_cpu_ns_per_event_by_thread\":%s,\"tripline_cpu_ns_per_event_by_thread\":%s,"
                   "%s\"nproc\":%ld,\"cpu\":\"%s\"}\n",
                   fmt_names[fmt], brokers, threads, (unsigned long long)cr.events, base_rate, tl_rate,
                   tl_rate / base_rate, cr.ratio_median, cr.round_ratio[0], cr.round_ratio[cr.n_rounds_kept - 1], (unsigned long long)cr.rounds, (unsigned long long)cr.partitions,
                   (unsigned long long)cr.alerts, (unsigned long long)cr.malformed, (unsigned long long)cr.late, (unsigned long long)cr.holds,
                   cr.consumes ? (double)cr.tl_messages / (double)cr.consumes : 0.0, (unsigned long long)cr.ring_waits, cr.base_s, cr.tl_s,
                   cr.avg_bytes, (unsigned long long)cr.retained, cr.base_cpu * 1e9 / (double)cr.base_n,
                   cr.tl_cpu * 1e9 / (double)cr.tl_n, cr.base_cpu / cr.base_s, cr.tl_cpu / cr.tl_s, base_by, tl_by, ideal_json, nproc, model);
            fflush(stdout);
            fprintf(stderr,
                    "e2e %s, %d broker%s, %d threads: consume-and-discard %.2fM ev/s, tripline %.2fM ev/s, "
                    "ratio %.2f (rounds: median %.2f, %.2f-%.2f; %llu events in %llu rounds, %llu alerts; cell took %.0fs); CPU per event "
                    "%.0f ns vs %.0f ns (in the worker threads %.0f vs %.0f, in the client's broker threads %.0f vs %.0f), "
                    "cores busy %.2f vs %.2f%s\n",
                    fmt_names[fmt], brokers, brokers > 1 ? "s" : "", threads, base_rate / 1e6, tl_rate / 1e6,
                    tl_rate / base_rate, cr.ratio_median, cr.round_ratio[0], cr.round_ratio[cr.n_rounds_kept - 1], (unsigned long long)cr.events, (unsigned long long)cr.rounds,
                    (unsigned long long)cr.alerts, cr.wall_s, cr.base_cpu * 1e9 / (double)cr.base_n,
                    cr.tl_cpu * 1e9 / (double)cr.tl_n, (double)cr.base_tc[TL_TC_WORKER] / (double)cr.base_n,
                    (double)cr.tl_tc[TL_TC_WORKER] / (double)cr.tl_n, (double)cr.base_tc[TL_TC_BROKER] / (double)cr.base_n,
                    (double)cr.tl_tc[TL_TC_BROKER] / (double)cr.tl_n, cr.base_cpu / cr.base_s, cr.tl_cpu / cr.tl_s, ideal_txt);
        }
    }
    fprintf(stderr, "bench_e2e: %s in %.0fs\n", rc ? "FAILED" : "done", (double)(tl_bench_now_ns() - t0) * 1e-9);
    tl_program_destroy(prog);
    return rc;
}
