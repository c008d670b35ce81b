/* bench/bench_latency.c - alert latency: from the event that makes a condition true to its
 * alert read back from the output topic, at 50% and 90% of the maximum sustained load.
 *
 * Why: an alert engine is judged by how soon the page arrives, not only by how many events it
 * folds per second. The performance issue sets the targets: p99 <= 250 ms at 50% of the
 * maximum sustained load with default engine settings, p99 <= 1 s at 90%. Throughput benches
 * (bench_e2e) read a pre-loaded topic and say nothing about this; here events are produced in
 * real time while the engine consumes them, and the clock runs from the producer's send to
 * the alert's arrival at an ordinary Kafka consumer of the alerts topic.
 *
 * Setup (one process, one mock broker, everything concurrent):
 *  - the engine (tl_engine_new + tl_engine_run in the main thread) with the full example pack
 *    rules/support-agent.yaml and default settings; the bench only sets brokers, topics,
 *    group, rules, 2 worker threads, no printed alerts, no stats lines and log_level=3, as
 *    bench_e2e does (input format: the default, detected per message). -X key=value passes a
 *    librdkafka property to the engine for experiments; results then name it;
 *  - a driver thread producing the background load (its own producer) and the probes (a
 *    second producer) to a 12-partition input topic;
 *  - a reader thread: a plain consumer assigned to every partition of the alerts topic from
 *    the beginning (the topic is fresh), with fetch.wait.max.ms=2 (see below).
 *
 * Background load: synthetic fleet events (fleet.h, scenario NONE: healthy, so the pack's
 * own rules stay quiet; any other alert is counted as other_alerts), keyed by trace id.
 * Encoding a trace event costs about 0.8 us here (JSON), which would take most of a core
 * away from the engine being measured, so POOL_EVENTS events are encoded once (JSON, or
 * Confluent-framed Avro with --format avro) and replayed: before each send the timestamp's
 * bytes are rewritten with the current wall-clock time (CLOCK_REALTIME, read once per chunk
 * of <= 256 events; same length in both encodings) so event time and the engine's
 * watermark advance in real time, and from the second pass on the first 8 hex digits of the
 * trace id (also the key) are rewritten so every pass brings new traces. This producer
 * batches as a busy collector would (linger 20 ms, <= 2000 messages or 256 KB per set):
 * librdkafka's mock broker answers a fetch with at most one message set per partition, so
 * with small sets (linger 5 ms) the consumer's fetch path, not the engine, capped the rate
 * (about 300k events/s, the process using one of two cores).
 *
 * Probes: the pack's rule PolicyViolation (group_by [service], ratio(flags contains
 * "policy_violation") > 0, min_events 1, no `for`) fires early: its condition can only become
 * more true, so the owner of the series evaluates it after the batch holding the event was
 * folded (shard.c, tl_shard_evaluate), not when its 10 s slot closes. A probe is one event
 * with service "probe-<k>" (a new series, so exactly one firing alert each), kind guardrail,
 * the policy_violation flag, its own trace id, and event time = CLOCK_REALTIME now, sent by
 * its own producer with linger 5 ms as `tripline gen`. Its send time is CLOCK_MONOTONIC just
 * before rd_kafka_producev; its arrival time is CLOCK_MONOTONIC when the reader's
 * rd_kafka_consumer_poll returns the firing PolicyViolation alert whose service is probe-<k>.
 * Latency = arrival - send. It includes everything a user would see: the producer's linger,
 * the broker (the probe lands behind whatever its partition holds), the engine consumer's
 * fetch (fetch.wait.max.ms 50, engine default), its batch consume call (returns at 1024
 * messages or after 10 ms), decode, routing (maybe through the ring to the other worker,
 * which drains it after its own consume call), the evaluation, the alert producer
 * (idempotent, linger 5 ms), the broker again, and the reader's fetch. Probes arrive as a
 * Poisson process (20/s by default), so they sample every phase of those timers evenly.
 *
 * Breakdown, per load level, from the same probes:
 *  - engine_*: send -> the engine hands the alert to its producer (tl_engine_on_alert, called
 *    by the worker right after rd_kafka_producev of the alert): the input hop and the engine;
 *  - output_*: that moment -> the reader has the alert: alert producer linger, broker, reader;
 *  - hop_*: right after each probe the same producer sends a marker to a 1-partition topic
 *    only the reader consumes: one Kafka hop with the probe producer's and the reader's
 *    settings, the floor any Kafka-to-Kafka engine pays twice;
 *  - watermark_lag_*: wall-clock time minus the engine's watermark, sampled every 10 ms;
 *  - first_alert_*: the run's first alert, from one probe sent a quarter into the first
 *    level's warm-up and kept out of the figures; the probe window waits for it. A librdkafka
 *    producer holds its first message to a topic it has no metadata for until that metadata
 *    arrives (up to about a second here), so the probe producer fetches its topics' metadata
 *    at start-up; the engine's alert producer does not, and the first alert shows it.
 * The reader's fetch.wait.max.ms is 2 because the mock broker does not answer an empty fetch
 * early when data arrives: it always waits the full fetch.wait.max.ms (comment in librdkafka's
 * rdkafka_mock_handlers.c, "If there was no data, delay up to MaxWait"). With librdkafka's
 * default (500 ms) the reader alone would add up to half a second; 2 ms costs a few hundred
 * empty fetches a second and adds at most 2 ms. The engine's consumer keeps its default
 * (50 ms), and on the mock it pays that wait whenever a fetch finds its partitions drained.
 *
 * Maximum sustained load, measured first in the same run and under the same conditions
 * (producer thread, engine, reader and broker on the same cores): a closed loop. The driver
 * produces as fast as it can but never more than LAG_CAP messages ahead of what the engine
 * has folded (tl_engine_stats_get: events + malformed), so the offered rate follows the
 * engine's rate and the producer spends only the CPU that rate needs, as a paced producer
 * would. The warm-up starts when the engine folds its first events (its consumer's start-up
 * takes about a second); after it, the engine's folded events over the measurement window
 * give the rate. If the producer seldom had to wait for the engine (max_wait_share < 10%),
 * the producer was the limit and the result says so (max_limited_by "producer"); the
 * process's and the producer thread's CPU (cores) over the window are reported too. LAG_CAP
 * keeps the backlog far below the mock broker's retention (about 5 MB per partition, older
 * data silently dropped; see bench_e2e): 40,000 messages over 12 partitions is about 1.2 MB
 * each.
 *
 * Each load level: the driver paces the background at load x that rate (the pacing origin is
 * the level's start; a producer that falls behind catches up flat out), WARM seconds of
 * warm-up without probes, then probes for the probe window, then a tail at the same load until
 * every probe of the level was read (at most TAIL seconds). offered = background events/s
 * asked; produced and achieved = events handed to the producer and folded by the engine per
 * second over the probe window; sustained = achieved >= 97% of offered; lag_max = the largest
 * backlog (produced - folded, producer queues included) sampled in the window. After the last
 * level the driver waits for the engine to fold everything produced: messages it never folds
 * (input_unfolded) were dropped by the broker, so the load was not sustained. A probe whose
 * alert was never read by the end of the run is lost: the bench reports it and exits 1.
 *
 * Output: one JSON object per load level on stdout, a one-line summary per level, the
 * maximum-rate measurement and the machine once on stderr; probes slower than the level's
 * target are listed on stderr with the distance of their event time to the end of its slot.
 *
 * Usage: bench_latency [--smoke] [--format json|avro] [--threads N] [--seconds S]
 *                      [--probe-rate R] [--max-rate EPS] [--rules PATH] [-X key=value]
 *   default: JSON, 2 threads, 17 s of probes at 20/s per level after 3 s of warm-up; the max
 *   rate is measured over 4 s after 1 s. About 60 s in all (the group join takes about 3 s).
 *   --max-rate skips the measurement and uses EPS as the maximum sustained rate.
 *   --smoke: short phases, probes at 10/s for 1.5 s per level, levels capped at 4,000
 *   events/s (CI, also under ASan); it still fails if any probe's alert is not read.
 *   Run from the repository root (the rule pack is read from ./rules).
 *
 * Threading: the main thread runs the engine (tl_engine_run) until the driver stops it; the
 * driver thread owns both producers, the event pool and the probes' send times; the reader
 * thread owns the reader consumer and writes seen and marker times; the engine's workers
 * write emit times (on_alert). Those three times are atomics written once each
 * (compare-and-swap from 0), read by the driver while it waits for a level's tail and by the
 * main thread after every thread is joined.
 */
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
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
#include "timefmt.h"

#define INPUT_TOPIC "bench-latency-in"
#define ALERTS_TOPIC "bench-latency-alerts"
#define DLQ_TOPIC "bench-latency-dlq"
#define PIPE_TOPIC "bench-latency-pipe"
#define INPUT_PARTITIONS 12
#define ALERT_PARTITIONS 3
#define LAG_CAP 40000           /* closed loop: messages ahead of the engine (see top) */
#define CHUNK 256               /* background events per clock read */
#define PACE_SLEEP_NS 500000LL  /* paced producer: nap when ahead of schedule */
#define LAG_SAMPLE_NS 10000000LL
#define ASSIGN_TIMEOUT_S 60
#define DRAIN_TIMEOUT_S 15
#define PROBE_RULE "PolicyViolation"
#define PROBE_PREFIX "probe-"
#define SLOW_MS 1000.0          /* probes slower than this are counted (over_1s) */
#define NLEVELS 2
#define FLEET_SEED 7
#define POOL_EVENTS 131072      /* pre-encoded background events (smoke: SMOKE_POOL) */
#define SMOKE_POOL 8192
#define TS_MAX 32               /* a timestamp's encoding, JSON or Avro */
#define TID_PATCH 8             /* hex digits of a trace id rewritten per pool cycle */
#define MAX_PROPS 16            /* -X overrides for the engine */
#define WAIT_SHARE_ENGINE 0.10  /* producer waited this share of the window: engine-limited */
#define SUSTAINED 0.97          /* a level is sustained if the engine folded this share of its load */

static const double level_loads[NLEVELS] = {0.5, 0.9};
static const double level_target_ms[NLEVELS] = {250, 1000};

enum { FMT_JSON = 0, FMT_AVRO = 1 };
static const char *const fmt_names[] = {"json", "avro"};

/* The background producer: batches as a busy fleet's collector would (see top). */
static const tl_kv load_props[] = {
    {"linger.ms", "20"},
    {"batch.num.messages", "2000"},
    {"batch.size", "262144"},
    {"queue.buffering.max.messages", "1000000"},
    {"queue.buffering.max.kbytes", "1048576"},
    {"compression.type", "none"},
    {"log_level", "3"},
};

/* The probes' producer: as `tripline gen` (linger 5 ms). */
static const tl_kv probe_props[] = {
    {"linger.ms", "5"},
    {"compression.type", "none"},
    {"log_level", "3"},
};

/* The reader: no group membership (partitions are assigned), a short fetch wait (see top). */
static const tl_kv reader_props[] = {
    {"group.id", "bench-latency-reader"},
    {"enable.auto.commit", "false"},
    {"enable.partition.eof", "false"},
    {"fetch.wait.max.ms", "2"},
    {"log_level", "3"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct probe {
    int64_t send_ns;         /* CLOCK_MONOTONIC just before producing the probe (driver) */
    int64_t pipe_send_ns;    /* just before producing its marker (driver) */
    int64_t ts_ms;           /* its event time, CLOCK_REALTIME (driver) */
    _Atomic int64_t emit_ns; /* the engine produced its alert (a worker, on_alert) */
    _Atomic int64_t seen_ns; /* the reader read its alert */
    _Atomic int64_t pipe_ns; /* the reader read its marker */
} probe;

typedef struct level {
    double load;
    double offered;   /* background events/s asked of the producer */
    double produced;  /* background events/s the producer handed over, probe window */
    double achieved;  /* events/s the engine folded, probe window (probes included) */
    uint32_t first, n; /* its probes: [first, first + n) */
    uint64_t lag_max;
    uint64_t late;     /* engine's late contributions during the level */
    double *wm_lag;    /* wall clock - engine watermark (ms), sampled with the backlog */
    size_t n_wm, cap_wm;
    double window_s, tail_s;
} level;

/* Background events, encoded once (see top). Message i is buf[off[i], off[i] + len[i]); its
 * timestamp's encoding starts at ts_off[i] (all ts_len bytes long) and its trace id, also
 * its Kafka key, at tid_off[i] (tid_len[i] bytes, the first TID_PATCH of them rewritten). */
typedef struct pool {
    char *buf;
    size_t used, size;
    uint32_t *off, *len, *ts_off, *tid_off, *tid_len, *tid_hi;
    uint32_t n, next, cycle;
    int ts_len;
} pool;

typedef struct bench {
    /* settings */
    int smoke, fmt, threads;
    double max_warm_s, max_s;     /* maximum-rate measurement */
    double warm_s, probe_s, probe_rate, tail_s, rate_cap, fixed_rate;
    int64_t slot_ms;              /* the probe rule's slot width */
    /* clients */
    tl_engine *e;
    rd_kafka_t *prod;  /* background load */
    rd_kafka_t *pprod; /* probes and their markers */
    rd_kafka_topic_t *rkt[2]; /* pprod's topics, kept known from the start */
    rd_kafka_t *rd;
    pool pl;
    /* driver state */
    tl_event pev;
    char buf[65536];
    uint64_t rng;
    uint64_t produced;   /* background events handed to the producer */
    uint64_t probes_out; /* probe events handed to the producer */
    double max_rate, max_wait_share, base_rate;
    double max_producer_cpu, max_process_cpu; /* cores used during the max-rate window */
    int max_measured;
    uint32_t warm_k;      /* the warm-up probe (first alert of the run), UINT32_MAX if none */
    uint64_t unfolded;    /* input messages the engine never folded by the end of the run */
    level lv[NLEVELS];
    int nlevels_done;
    /* shared */
    probe *probes;
    uint32_t cap;
    _Atomic uint32_t nprobes;
    _Atomic uint64_t dr_failed, other_alerts, dup_alerts;
    _Atomic int engine_exited, reader_stop, failed;
} bench;

static int64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, NULL);
}

/* xorshift64*: the probes' arrival process (deterministic per run). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Exponential gap with mean 1/rate, in ns. */
static int64_t rng_gap_ns(uint64_t *s, double rate)
{
    double u = (double)((rng_next(s) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    return (int64_t)(-log(u) / rate * 1e9);
}

/* ---- machine ------------------------------------------------------------------------------- */

/* ---- matching alerts to probes -------------------------------------------------------------- */

/* k of a "probe-<k>" service name, or -1. */
static int64_t probe_index(const char *s, size_t n)
{
    size_t pn = sizeof PROBE_PREFIX - 1;
    if (n <= pn || n > pn + 10 || memcmp(s, PROBE_PREFIX, pn) != 0)
        return -1;
    int64_t k = 0;
    for (size_t i = pn; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        k = k * 10 + (s[i] - '0');
    }
    return k;
}

/* Set *t to v if it is still 0; 1 if this call set it. */
static int set_once(_Atomic int64_t *t, int64_t v)
{
    int64_t zero = 0;
    return atomic_compare_exchange_strong(t, &zero, v);
}

/* The engine's alert hook (a worker thread): when a probe's alert was handed to the producer. */
static void on_alert(void *ctx, const tl_alert *a)
{
    bench *b = ctx;
    if (a->state != TL_ALERT_FIRING || !a->service || strcmp(a->alert, PROBE_RULE) != 0)
        return;
    int64_t k = probe_index(a->service, strlen(a->service));
    if (k >= 0 && (uint64_t)k < b->cap)
        set_once(&b->probes[k].emit_ns, tl_bench_now_ns());
}

/* The string value of top-level key `key` in a JSON alert. The alert encoder writes "alert",
 * "state", "timestamp", "service" first, in that order (alert_json.c), so the first match is
 * the top-level one. 0, or -1 if absent or not a string. */
static int json_str(const char *p, size_t n, const char *key, const char **v, size_t *vn)
{
    char pat[64];
    int pn = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *s = memmem(p, n, pat, (size_t)pn);
    if (!s)
        return -1;
    s += pn;
    const char *end = p + n, *q = s;
    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= end)
        return -1;
    *v = s;
    *vn = (size_t)(q - s);
    return 0;
}

static void reader_handle(bench *b, const rd_kafka_message_t *m, int64_t t)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const char *p = m->payload;
    size_t n = m->len;
    if (strcmp(topic, PIPE_TOPIC) == 0) {
        int64_t k = probe_index(p, n);
        if (k >= 0 && (uint64_t)k < b->cap)
            set_once(&b->probes[k].pipe_ns, t);
        return;
    }
    const char *name, *state, *svc;
    size_t name_n, state_n, svc_n;
    if (p && json_str(p, n, "alert", &name, &name_n) == 0 && json_str(p, n, "state", &state, &state_n) == 0 &&
        json_str(p, n, "service", &svc, &svc_n) == 0 && name_n == sizeof PROBE_RULE - 1 &&
        memcmp(name, PROBE_RULE, name_n) == 0 && state_n == 6 && memcmp(state, "firing", 6) == 0) {
        int64_t k = probe_index(svc, svc_n);
        if (k >= 0 && (uint64_t)k < b->cap) {
            if (!set_once(&b->probes[k].seen_ns, t))
                atomic_fetch_add(&b->dup_alerts, 1);
            return;
        }
    }
    atomic_fetch_add(&b->other_alerts, 1);
}

static void *reader_main(void *arg)
{
    bench *b = arg;
    while (!atomic_load(&b->reader_stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->rd, 20);
        if (!m)
            continue;
        int64_t t = tl_bench_now_ns();
        if (m->err)
            fprintf(stderr, "bench_latency: reader: %s\n", rd_kafka_message_errstr(m));
        else
            reader_handle(b, m, t);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static rd_kafka_t *reader_new(const char *bootstraps)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_bench_conf_set(conf, reader_props, NELEM(reader_props), "bench_latency") < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        fprintf(stderr, "bench_latency: cannot create the reader: %s\n", e);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ALERT_PARTITIONS + 1);
    for (int p = 0; p < ALERT_PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(l, ALERTS_TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(l, PIPE_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        fprintf(stderr, "bench_latency: reader assign: %s\n", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* ---- producing ------------------------------------------------------------------------------ */

static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        atomic_fetch_add(&((bench *)opaque)->dr_failed, 1);
}

static rd_kafka_t *producer_new(const char *bootstraps, bench *b, const tl_kv *props, size_t nprops)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_bench_conf_set(conf, props, nprops, "bench_latency") < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr);
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        fprintf(stderr, "bench_latency: cannot create the producer: %s\n", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int produce(rd_kafka_t *rk, const char *topic, const void *key, size_t klen, const void *val, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, klen),
                                                    RD_KAFKA_V_VALUE((void *)val, len),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench_latency: produce to %s: %s\n", topic, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 1);
    }
}

static size_t encode(int fmt, const tl_event *ev, char *out, size_t cap)
{
    return fmt == FMT_JSON ? tl_json_encode_event(ev, out, cap)
                           : tl_avro_encode_event_confluent(ev, 1, (uint8_t *)out, cap);
}

/* A timestamp as the encoder writes it: RFC 3339 text (JSON) or a zig-zag varint (Avro).
 * Returns its length. */
static int ts_repr(int fmt, int64_t ms, char *out)
{
    if (fmt == FMT_JSON)
        return (int)tl_time_format_rfc3339(ms, out, TS_MAX);
    uint64_t z = ((uint64_t)ms << 1) ^ (uint64_t)(ms >> 63);
    int n = 0;
    while (z >= 0x80) {
        out[n++] = (char)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (char)z;
    return n;
}

static uint32_t hex8(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < TID_PATCH; i++) {
        char c = p[i];
        v = v << 4 | (uint32_t)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0);
    }
    return v;
}

static void put_hex8(char *p, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = TID_PATCH - 1; i >= 0; i--, v >>= 4)
        p[i] = digits[v & 0xf];
}

static void pool_fini(pool *pl)
{
    tl_free(pl->buf);
    tl_free(pl->off);
    tl_free(pl->len);
    tl_free(pl->ts_off);
    tl_free(pl->tid_off);
    tl_free(pl->tid_len);
    tl_free(pl->tid_hi);
    memset(pl, 0, sizeof *pl);
}

/* Generate and encode n fleet events (scenario NONE) with a reference timestamp of now,
 * recording where each one's timestamp and trace id are. 0, or -1 with a message. */
static int pool_build(pool *pl, int fmt, uint32_t n)
{
    tl_fleet_opts fo = {.seed = FLEET_SEED, .start_ms = realtime_ms(), .traces_per_sec = 50,
                        .scenario = TL_FLEET_SCENARIO_NONE, .n_services = 3};
    tl_fleet *f = tl_fleet_new(&fo);
    tl_event *ev = tl_malloc(sizeof *ev);
    char *tmp = tl_malloc(65536);
    pl->size = (size_t)n * 512;
    pl->buf = tl_malloc(pl->size);
    pl->off = tl_malloc(n * sizeof *pl->off);
    pl->len = tl_malloc(n * sizeof *pl->len);
    pl->ts_off = tl_malloc(n * sizeof *pl->ts_off);
    pl->tid_off = tl_malloc(n * sizeof *pl->tid_off);
    pl->tid_len = tl_malloc(n * sizeof *pl->tid_len);
    pl->tid_hi = tl_malloc(n * sizeof *pl->tid_hi);
    int rc = -1;
    if (!f || !ev || !tmp || !pl->buf || !pl->off || !pl->len || !pl->ts_off || !pl->tid_off || !pl->tid_len ||
        !pl->tid_hi) {
        fprintf(stderr, "bench_latency: out of memory building the event pool\n");
        goto out;
    }
    int64_t ref = realtime_ms();
    char rep[TS_MAX];
    pl->ts_len = ts_repr(fmt, ref, rep);
    for (uint32_t i = 0; i < n; i++) {
        tl_fleet_next(f, ev);
        ev->ts_ms = ref;
        size_t len = encode(fmt, ev, tmp, 65536);
        const tl_str *tid = &ev->str[TL_S_TRACE_ID];
        const char *ts_at = len ? memmem(tmp, len, rep, (size_t)pl->ts_len) : NULL;
        const char *tid_at = len && tid->n >= TID_PATCH ? memmem(tmp, len, tid->p, tid->n) : NULL;
        if (!ts_at || !tid_at) {
            fprintf(stderr, "bench_latency: a fleet event does not encode as expected\n");
            goto out;
        }
        if (pl->used + len > pl->size) {
            size_t ns = pl->size * 2;
            char *nb = tl_realloc(pl->buf, ns);
            if (!nb) {
                fprintf(stderr, "bench_latency: out of memory building the event pool\n");
                goto out;
            }
            pl->buf = nb;
            pl->size = ns;
        }
        memcpy(pl->buf + pl->used, tmp, len);
        pl->off[i] = (uint32_t)pl->used;
        pl->len[i] = (uint32_t)len;
        pl->ts_off[i] = (uint32_t)(ts_at - tmp);
        pl->tid_off[i] = (uint32_t)(tid_at - tmp);
        pl->tid_len[i] = tid->n;
        pl->tid_hi[i] = hex8(tid_at);
        pl->used += len;
    }
    pl->n = n;
    rc = 0;
out:
    tl_free(tmp);
    tl_free(ev);
    tl_fleet_destroy(f);
    return rc;
}

/* Background events until `target` were produced, at most CHUNK per call, stamped now. */
static int pump(bench *b, uint64_t target)
{
    pool *pl = &b->pl;
    char rep[TS_MAX];
    if (ts_repr(b->fmt, realtime_ms(), rep) != pl->ts_len) {
        fprintf(stderr, "bench_latency: the timestamp's encoding changed length\n");
        return -1;
    }
    for (int i = 0; i < CHUNK && b->produced < target; i++) {
        uint32_t k = pl->next;
        char *m = pl->buf + pl->off[k];
        memcpy(m + pl->ts_off[k], rep, (size_t)pl->ts_len);
        if (pl->cycle) /* a fresh trace id per pass over the pool */
            put_hex8(m + pl->tid_off[k], pl->tid_hi[k] ^ (pl->cycle * 0x9E3779B1u));
        if (produce(b->prod, INPUT_TOPIC, m + pl->tid_off[k], pl->tid_len[k], m, pl->len[k]) < 0)
            return -1;
        b->produced++;
        if (++pl->next == pl->n) {
            pl->next = 0;
            pl->cycle++;
        }
    }
    rd_kafka_poll(b->prod, 0);
    return 0;
}

/* One probe (see top), then its marker on the pipe topic. 0, 1 if the probe table is full,
 * -1 on error. */
static int send_probe(bench *b)
{
    uint32_t k = atomic_load(&b->nprobes);
    if (k >= b->cap)
        return 1;
    probe *p = &b->probes[k];
    char svc[32], tid[48], sid[48];
    int sn = snprintf(svc, sizeof svc, PROBE_PREFIX "%u", k);
    int tn = snprintf(tid, sizeof tid, "probe-trace-%u", k);
    int pn = snprintf(sid, sizeof sid, "probe-span-%u", k);
    tl_event *ev = &b->pev;
    tl_event_reset(ev);
    tl_event_set_str(ev, TL_S_TRACE_ID, tid, (uint32_t)tn);
    tl_event_set_str(ev, TL_S_SPAN_ID, sid, (uint32_t)pn);
    tl_event_set_str(ev, TL_S_SERVICE, svc, (uint32_t)sn);
    tl_event_set_str(ev, TL_S_KIND, "guardrail", 9);
    tl_event_set_str(ev, TL_S_STATUS, "ok", 2);
    ev->flags[0] = TL_STR_LIT("policy_violation");
    ev->n_flags = 1;
    ev->ts_ms = realtime_ms();
    size_t len = encode(b->fmt, ev, b->buf, sizeof b->buf);
    if (!len)
        return -1;
    p->ts_ms = ev->ts_ms;
    atomic_store(&b->nprobes, k + 1);
    p->send_ns = tl_bench_now_ns();
    if (produce(b->pprod, INPUT_TOPIC, tid, (size_t)tn, b->buf, len) < 0)
        return -1;
    p->pipe_send_ns = tl_bench_now_ns();
    if (produce(b->pprod, PIPE_TOPIC, NULL, 0, svc, (size_t)sn) < 0)
        return -1;
    rd_kafka_poll(b->pprod, 0);
    b->probes_out++;
    return 0;
}

/* ---- the driver ------------------------------------------------------------------------------ */

/* Messages the engine has dealt with (folded or dead-lettered). */
static uint64_t engine_done(bench *b)
{
    tl_engine_stats s;
    tl_engine_stats_get(b->e, &s);
    return s.events + s.malformed;
}

static uint64_t backlog(bench *b)
{
    uint64_t sent = b->produced + b->probes_out, done = engine_done(b);
    return sent > done ? sent - done : 0;
}

static int wait_assigned(bench *b)
{
    int64_t end = tl_bench_now_ns() + ASSIGN_TIMEOUT_S * 1000000000LL;
    while (tl_bench_now_ns() < end) {
        if (atomic_load(&b->engine_exited))
            return -1;
        tl_engine_stats s;
        tl_engine_stats_get(b->e, &s);
        if (s.partitions == INPUT_PARTITIONS)
            return 0;
        sleep_ns(10000000);
    }
    fprintf(stderr, "bench_latency: the engine was not assigned its partitions within %d s\n", ASSIGN_TIMEOUT_S);
    return -1;
}

/* The closed loop (see top): produce flat out, at most LAG_CAP ahead of the engine. */
static int measure_max(bench *b)
{
    /* the warm-up starts once the engine folds its first events (its consumer's start-up,
     * offset lookups and first fetches, takes about a second on the mock cluster) */
    int64_t t_meas = INT64_MAX, t_end = INT64_MAX, give_up = tl_bench_now_ns() + ASSIGN_TIMEOUT_S * 1000000000LL;
    int measuring = 0;
    uint64_t done0 = 0;
    int64_t wait_ns = 0, now, thr0 = 0, proc0 = 0;
    while ((now = tl_bench_now_ns()) < t_end) {
        if (atomic_load(&b->engine_exited))
            return -1;
        if (t_meas == INT64_MAX) {
            if (engine_done(b) > 0) {
                t_meas = now + (int64_t)(b->max_warm_s * 1e9);
                t_end = t_meas + (int64_t)(b->max_s * 1e9);
            } else if (now > give_up) {
                fprintf(stderr, "bench_latency: the engine folded nothing in %d s\n", ASSIGN_TIMEOUT_S);
                return -1;
            }
        }
        if (!measuring && now >= t_meas) {
            measuring = 1;
            done0 = engine_done(b);
            thr0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
            proc0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
            t_meas = now;
            t_end = now + (int64_t)(b->max_s * 1e9);
        }
        if (backlog(b) >= LAG_CAP) {
            sleep_ns(100000);
            rd_kafka_poll(b->prod, 0);
            if (measuring)
                wait_ns += tl_bench_now_ns() - now;
            continue;
        }
        if (pump(b, b->produced + CHUNK) < 0)
            return -1;
    }
    double secs = (double)(now - t_meas) * 1e-9;
    b->max_rate = (double)(engine_done(b) - done0) / secs;
    b->max_wait_share = (double)wait_ns * 1e-9 / secs;
    b->max_producer_cpu = (double)(cpu_ns(CLOCK_THREAD_CPUTIME_ID) - thr0) * 1e-9 / secs;
    b->max_process_cpu = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - proc0) * 1e-9 / secs;
    b->max_measured = 1;
    return 0;
}

static uint32_t level_seen(bench *b, const level *L)
{
    uint32_t n = 0;
    for (uint32_t k = L->first; k < L->first + L->n; k++)
        n += atomic_load(&b->probes[k].seen_ns) != 0;
    return n;
}

static uint64_t engine_late(bench *b)
{
    tl_engine_stats s;
    tl_engine_stats_get(b->e, &s);
    return s.late;
}

/* One load level: warm-up, probe window, tail (see top). With warm_probe, one probe is sent a
 * quarter into the warm-up and the probe window waits for its alert to be read (at most the
 * tail time): the run's first alert pays one-off costs (see top) that are reported apart. */
static int run_level(bench *b, level *L, double load, int warm_probe)
{
    memset(L, 0, sizeof *L);
    L->cap_wm = (size_t)(b->probe_s * 1e9 / LAG_SAMPLE_NS) * 2 + 16;
    L->wm_lag = tl_malloc(L->cap_wm * sizeof *L->wm_lag);
    if (!L->wm_lag)
        return -1;
    L->load = load;
    L->offered = load * b->base_rate;
    uint64_t late0 = engine_late(b);
    int64_t t0 = tl_bench_now_ns();
    int64_t warm_at = warm_probe ? t0 + (int64_t)(b->warm_s * 0.25e9) : INT64_MAX;
    int64_t probe_from = t0 + (int64_t)(b->warm_s * 1e9), warm_deadline = probe_from + (int64_t)(b->tail_s * 1e9);
    int64_t probe_to = 0, next_probe = 0;
    int64_t ta = 0, tb = 0, tail_end = 0, next_sample = 0;
    uint64_t base = b->produced, done_a = 0, prod_a = 0;
    int phase = 0; /* 0 warm-up, 1 probes, 2 tail */
    for (;;) {
        int64_t now = tl_bench_now_ns();
        if (atomic_load(&b->engine_exited))
            return -1;
        if (now >= warm_at) {
            warm_at = INT64_MAX;
            b->warm_k = atomic_load(&b->nprobes);
            if (send_probe(b) != 0)
                return -1;
        }
        if (phase == 0 && now >= probe_from &&
            (b->warm_k == UINT32_MAX || atomic_load(&b->probes[b->warm_k].seen_ns) || now >= warm_deadline)) {
            phase = 1;
            ta = now;
            done_a = engine_done(b);
            prod_a = b->produced;
            L->first = atomic_load(&b->nprobes);
            probe_to = now + (int64_t)(b->probe_s * 1e9);
            next_probe = now + rng_gap_ns(&b->rng, b->probe_rate);
        }
        if (phase == 1 && now >= probe_to) {
            phase = 2;
            tb = now;
            L->window_s = (double)(tb - ta) * 1e-9;
            L->achieved = (double)(engine_done(b) - done_a) / L->window_s;
            L->produced = (double)(b->produced - prod_a) / L->window_s;
            tail_end = now + (int64_t)(b->tail_s * 1e9);
        }
        if (phase == 2 && (level_seen(b, L) == L->n || now >= tail_end)) {
            L->tail_s = (double)(now - tb) * 1e-9;
            break;
        }
        if (phase == 1 && now >= next_probe) {
            int r = send_probe(b);
            if (r < 0)
                return -1;
            if (r == 0)
                L->n++;
            next_probe += rng_gap_ns(&b->rng, b->probe_rate);
            continue;
        }
        if (phase == 1 && now >= next_sample) {
            uint64_t lag = backlog(b);
            if (lag > L->lag_max)
                L->lag_max = lag;
            tl_engine_stats st;
            tl_engine_stats_get(b->e, &st);
            if (L->n_wm < L->cap_wm && st.watermark != INT64_MIN)
                L->wm_lag[L->n_wm++] = (double)(realtime_ms() - st.watermark);
            next_sample = now + LAG_SAMPLE_NS;
        }
        uint64_t due = base + (uint64_t)(L->offered * (double)(now - t0) * 1e-9);
        if (b->produced < due) {
            if (pump(b, due) < 0)
                return -1;
            continue;
        }
        int64_t nap = PACE_SLEEP_NS;
        if (phase == 1 && next_probe - now < nap)
            nap = next_probe - now;
        if (warm_at - now < nap)
            nap = warm_at - now;
        sleep_ns(nap);
        rd_kafka_poll(b->prod, 0);
    }
    L->late = engine_late(b) - late0;
    return 0;
}

static void *driver_main(void *arg)
{
    bench *b = arg;
    int ok = 0;
    if (wait_assigned(b) < 0)
        goto out;
    if (b->fixed_rate > 0) {
        b->max_rate = b->fixed_rate;
    } else {
        if (measure_max(b) < 0)
            goto out;
        fprintf(stderr,
                "  maximum sustained load: %.0f events/s (closed loop, %.1f s after %.1f s; the producer waited for "
                "the engine %.0f%% of the time: %s-limited; the process used %.2f cores, the producer thread "
                "%.2f)\n",
                b->max_rate, b->max_s, b->max_warm_s, b->max_wait_share * 100,
                b->max_wait_share >= WAIT_SHARE_ENGINE ? "engine" : "producer", b->max_process_cpu,
                b->max_producer_cpu);
    }
    b->base_rate = b->max_rate;
    if (b->rate_cap > 0 && b->base_rate > b->rate_cap)
        b->base_rate = b->rate_cap;
    for (int i = 0; i < NLEVELS; i++) {
        if (run_level(b, &b->lv[i], level_loads[i], i == 0) < 0)
            goto out;
        b->nlevels_done++;
        fprintf(stderr, "  %.0f%% load: %u probes in %.1f s, all read %.2f s after the window\n", level_loads[i] * 100,
                b->lv[i].n, b->lv[i].window_s, b->lv[i].tail_s);
    }
    /* Every input message must have been folded: a backlog that outgrew the mock broker's
     * retention (see top) loses messages before the engine reads them. */
    int64_t drain_end = tl_bench_now_ns() + DRAIN_TIMEOUT_S * 1000000000LL;
    while (backlog(b) > 0 && tl_bench_now_ns() < drain_end && !atomic_load(&b->engine_exited)) {
        rd_kafka_poll(b->prod, 0);
        sleep_ns(10000000);
    }
    b->unfolded = backlog(b);
    ok = 1;
out:
    if (!ok)
        atomic_store(&b->failed, 1);
    tl_engine_stop(b->e);
    return NULL;
}

/* ---- results ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). NAN if empty. */
static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    size_t r = (size_t)ceil(q * (double)n);
    return v[r ? r - 1 : 0];
}

typedef struct dist {
    double p50, p99, max;
    size_t n;
} dist;

static dist dist_of(double *v, size_t n)
{
    dist d = {NAN, NAN, NAN, n};
    if (!n)
        return d;
    qsort(v, n, sizeof *v, cmp_double);
    d.p50 = pct(v, n, 0.50);
    d.p99 = pct(v, n, 0.99);
    d.max = v[n - 1];
    return d;
}

/* JSON has no NaN: an empty distribution is written as null. */
static void jnum(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "null");
    else
        snprintf(out, cap, "%.2f", v);
}

/* What every result line repeats. */
typedef struct run_info {
    const char *model, *overrides;
    long nproc;
    uint32_t nrules;
    char first[4][32]; /* the first alert: total, engine, output, marker hop (ms, or null) */
} run_info;

static double ms_between(int64_t from, int64_t to) { return from && to ? (double)(to - from) * 1e-6 : NAN; }

#define SLOW_LINES 20 /* per level */

/* One level's JSON line and summary. -1 if a probe of the level was lost. */
static int report_level(bench *b, int li, const run_info *ri)
{
    const level *L = &b->lv[li];
    size_t n = L->n ? L->n : 1;
    double *tot = tl_malloc(n * sizeof *tot), *eng = tl_malloc(n * sizeof *eng),
           *outp = tl_malloc(n * sizeof *outp), *hop = tl_malloc(n * sizeof *hop);
    if (!tot || !eng || !outp || !hop) {
        tl_free(tot);
        tl_free(eng);
        tl_free(outp);
        tl_free(hop);
        return -1;
    }
    size_t nt = 0, ne = 0, no = 0, nh = 0, slow = 0, listed = 0;
    for (uint32_t k = L->first; k < L->first + L->n; k++) {
        const probe *p = &b->probes[k];
        int64_t seen = atomic_load(&p->seen_ns), emit = atomic_load(&p->emit_ns), pipe = atomic_load(&p->pipe_ns);
        if (emit)
            eng[ne++] = ms_between(p->send_ns, emit);
        if (pipe)
            hop[nh++] = ms_between(p->pipe_send_ns, pipe);
        if (!seen) {
            fprintf(stderr, "  LOST: probe %u: its alert was %s\n", k,
                    emit ? "produced by the engine but never read" : "never produced by the engine");
            continue;
        }
        double ms = ms_between(p->send_ns, seen);
        tot[nt++] = ms;
        if (emit)
            outp[no++] = ms_between(emit, seen);
        slow += ms > SLOW_MS;
        if (ms > level_target_ms[li] && listed++ < SLOW_LINES)
            fprintf(stderr,
                    "  slow: probe %u took %.0f ms (engine %.0f ms, output %.0f ms, its marker %.0f ms); its event "
                    "time was %lld ms before the end of its %lld ms slot\n",
                    k, ms, ms_between(p->send_ns, emit), ms_between(emit, seen), ms_between(p->pipe_send_ns, pipe),
                    (long long)(b->slot_ms - p->ts_ms % b->slot_ms), (long long)b->slot_ms);
    }
    dist dt = dist_of(tot, nt), de = dist_of(eng, ne), dout = dist_of(outp, no), dh = dist_of(hop, nh);
    dist dw = dist_of(L->wm_lag, L->n_wm);
    int sustained = L->achieved >= SUSTAINED * L->offered;
    const dist *ds[5] = {&dt, &de, &dout, &dh, &dw};
    char v[5][3][32];
    for (int i = 0; i < 5; i++) {
        jnum(v[i][0], 32, ds[i]->p50);
        jnum(v[i][1], 32, ds[i]->p99);
        jnum(v[i][2], 32, ds[i]->max);
    }
    printf("{\"bench\":\"latency\",\"format\":\"%s\",\"load\":%.2f,\"offered_events_per_sec\":%.0f,"
           "\"produced_events_per_sec\":%.0f,\"achieved_events_per_sec\":%.0f,\"max_sustained_events_per_sec\":%.0f,"
           "\"max_measured\":%s,\"max_limited_by\":\"%s\",\"max_producer_wait_share\":%.3f,"
           "\"max_process_cpu\":%.2f,\"max_producer_cpu\":%.2f,\"sustained\":%s,",
           fmt_names[b->fmt], L->load, L->offered, L->produced, L->achieved, b->max_rate,
           b->max_measured ? "true" : "false",
           !b->max_measured ? "given" : b->max_wait_share >= WAIT_SHARE_ENGINE ? "engine" : "producer",
           b->max_wait_share, b->max_process_cpu, b->max_producer_cpu, sustained ? "true" : "false");
    printf("\"probes_sent\":%u,\"probes_seen\":%zu,\"probes_lost\":%zu,\"p50_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,"
           "\"target_p99_ms\":%.0f,\"over_1s\":%zu,\"engine_p50_ms\":%s,\"engine_p99_ms\":%s,\"engine_max_ms\":%s,"
           "\"output_p50_ms\":%s,\"output_p99_ms\":%s,\"output_max_ms\":%s,\"hop_p50_ms\":%s,\"hop_p99_ms\":%s,"
           "\"hop_max_ms\":%s,\"watermark_lag_p50_ms\":%s,\"watermark_lag_p99_ms\":%s,\"watermark_lag_max_ms\":%s,",
           L->n, nt, (size_t)L->n - nt, v[0][0], v[0][1], v[0][2], level_target_ms[li], slow, v[1][0], v[1][1],
           v[1][2], v[2][0], v[2][1], v[2][2], v[3][0], v[3][1], v[3][2], v[4][0], v[4][1], v[4][2]);
    printf("\"first_alert_ms\":%s,\"first_alert_engine_ms\":%s,\"first_alert_output_ms\":%s,\"lag_max\":%llu,"
           "\"input_unfolded\":%llu,\"late\":%llu,\"probe_seconds\":%.1f,\"probe_rate\":%.1f,\"threads\":%d,"
           "\"partitions\":%d,\"rules\":%u,\"engine_overrides\":\"%s\",\"smoke\":%s,\"nproc\":%ld,"
           "\"cpu\":\"%s\"}\n",
           ri->first[0], ri->first[1], ri->first[2], (unsigned long long)L->lag_max, (unsigned long long)b->unfolded,
           (unsigned long long)L->late, L->window_s, b->probe_rate, b->threads, INPUT_PARTITIONS, ri->nrules,
           ri->overrides, b->smoke ? "true" : "false", ri->nproc, ri->model);
    fflush(stdout);
    fprintf(stderr,
            "latency %s, %.0f%% load (%.0f ev/s offered, %.0f folded%s): p50 %.1f ms, p99 %.1f ms, max %.1f ms over "
            "%zu of %u probes (engine p50 %.1f ms, output p50 %.1f ms, one Kafka hop p50 %.1f ms); target p99 <= %.0f "
            "ms: %s\n",
            fmt_names[b->fmt], L->load * 100, L->offered, L->achieved, sustained ? "" : ", NOT sustained", dt.p50,
            dt.p99, dt.max, nt, L->n, de.p50, dout.p50, dh.p50, level_target_ms[li],
            nt < L->n ? "not met (lost probes)" : dt.p99 <= level_target_ms[li] ? "met" : "not met");
    tl_free(tot);
    tl_free(eng);
    tl_free(outp);
    tl_free(hop);
    return nt == L->n ? 0 : -1;
}

/* ---- main -------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_latency [--smoke] [--format json|avro] [--threads N] [--seconds S] "
                    "[--probe-rate R] [--max-rate EPS] [--rules PATH] [-X key=value (engine)]\n");
}

int main(int argc, char **argv)
{
    static bench B; /* large (an event and a buffer): not on the stack */
    bench *b = &B;
    const char *rules = "rules/support-agent.yaml";
    char *xprops[2 * MAX_PROPS];
    int nx = 0;
    b->fmt = FMT_JSON;
    b->threads = 2;
    b->max_warm_s = 1.0;
    b->max_s = 4.0;
    b->warm_s = 3.0;
    b->probe_s = 17.0;
    b->probe_rate = 20.0;
    b->tail_s = 30.0;
    b->rng = 0x9E3779B97F4A7C15ULL;
    b->warm_k = UINT32_MAX;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) {
            b->smoke = 1;
        } else if (strcmp(a, "--format") == 0 && v && (strcmp(v, "json") == 0 || strcmp(v, "avro") == 0)) {
            b->fmt = v[0] == 'j' ? FMT_JSON : FMT_AVRO;
            i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            b->threads = atoi(v);
            i++;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            b->probe_s = atof(v);
            i++;
        } else if (strcmp(a, "--probe-rate") == 0 && v) {
            b->probe_rate = atof(v);
            i++;
        } else if (strcmp(a, "--max-rate") == 0 && v) {
            b->fixed_rate = atof(v);
            i++;
        } else if (strcmp(a, "--rules") == 0 && v) {
            rules = v;
            i++;
        } else if (strcmp(a, "-X") == 0 && v && strchr(v, '=') && nx < 2 * MAX_PROPS) {
            xprops[nx++] = "-X";
            xprops[nx++] = (char *)v;
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (b->smoke) {
        b->max_warm_s = 0.3;
        b->max_s = 0.7;
        b->warm_s = 0.5;
        b->probe_s = 1.5;
        b->probe_rate = 10.0;
        b->rate_cap = 4000;
    }
    if (b->threads < 1 || b->threads > 64 || !(b->probe_s > 0) || !(b->probe_rate > 0) || b->fixed_rate < 0) {
        usage();
        return 2;
    }
    tl_log_set_level(TL_LOG_WARN);

    char model[256];
    tl_bench_cpu_model(model, sizeof model);
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    char overrides[512] = "";
    for (int i = 1; i < nx; i += 2) {
        size_t o = strlen(overrides);
        snprintf(overrides + o, sizeof overrides - o, "%s%s", o ? " " : "", xprops[i]);
    }
    for (char *p = overrides; *p; p++) /* it goes into a JSON string */
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
    fprintf(stderr, "bench_latency: machine: %ld cpus, %s; %d worker threads, %s, rules %s%s%s\n", nproc, model,
            b->threads, fmt_names[b->fmt], rules, nx ? ", engine -X " : "", overrides);

    int rc = 1, started_reader = 0, started_driver = 0;
    int64_t t_start = tl_bench_now_ns();
    pthread_t reader_th, driver_th;
    tl_program *prog = NULL;
    tl_config cfg;
    tl_config_init(&cfg);
    tl_mock mock;
    char err[1024];
    if (tl_mock_start(&mock, 1, err, sizeof err) < 0) {
        fprintf(stderr, "bench_latency: %s\n", err);
        tl_config_fini(&cfg);
        return 1;
    }
    if (tl_mock_topic(&mock, INPUT_TOPIC, INPUT_PARTITIONS) < 0 ||
        tl_mock_topic(&mock, ALERTS_TOPIC, ALERT_PARTITIONS) < 0 || tl_mock_topic(&mock, DLQ_TOPIC, 1) < 0 ||
        tl_mock_topic(&mock, PIPE_TOPIC, 1) < 0) {
        fprintf(stderr, "bench_latency: cannot create the topics\n");
        goto out;
    }

    /* The engine, configured as `tripline run` would be with these flags. */
    char thr[16];
    snprintf(thr, sizeof thr, "%d", b->threads);
    char *args[] = {"--brokers", mock.bootstraps, "--group", "bench-latency", "--input", INPUT_TOPIC,
                    "--output", ALERTS_TOPIC, "--dlq", DLQ_TOPIC, "--rules", (char *)rules,
                    "--threads", thr, "--no-print-alerts", "--stats-interval", "0", "-X", "log_level=3"};
    if (tl_config_apply_args(&cfg, (int)NELEM(args), args, err, sizeof err) < 0 ||
        (nx && tl_config_apply_args(&cfg, nx, xprops, err, sizeof err) < 0) ||
        tl_config_validate(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bench_latency: engine config: %s\n", err);
        goto out;
    }
    cfg.print_alerts = 0;
    prog = tl_cli_load_rules(&cfg);
    if (!prog) {
        fprintf(stderr, "bench_latency: cannot load %s (run from the repository root)\n", rules);
        goto out;
    }
    const tl_rule *pr = NULL;
    for (uint32_t i = 0; i < prog->nrules; i++)
        if (strcmp(prog->rules[i].name, PROBE_RULE) == 0)
            pr = &prog->rules[i];
    if (!pr || !pr->early || pr->for_ms != 0 || pr->min_events > 1) {
        fprintf(stderr,
                "bench_latency: the probes need rule %s firing early (ratio > 0, min_events 1, no `for`) in %s\n",
                PROBE_RULE, rules);
        goto out;
    }
    b->slot_ms = pr->width_ms;

    /* Probe table: every level's expected probes twice over (arrivals are random), and the
     * warm-up probe. */
    b->cap = (uint32_t)(NLEVELS * (b->probe_rate * b->probe_s * 2 + 64)) + 1;
    b->probes = tl_calloc(b->cap, sizeof *b->probes);
    if (!b->probes || pool_build(&b->pl, b->fmt, b->smoke ? SMOKE_POOL : POOL_EVENTS) < 0)
        goto out;
    b->rd = reader_new(mock.bootstraps);
    b->prod = producer_new(mock.bootstraps, b, load_props, NELEM(load_props));
    b->pprod = producer_new(mock.bootstraps, b, probe_props, NELEM(probe_props));
    if (!b->rd || !b->prod || !b->pprod)
        goto out;
    /* The probes' producer learns its topics now: librdkafka holds a first message to a topic
     * it has no metadata for until that metadata arrives (about a second here, see top). */
    b->rkt[0] = rd_kafka_topic_new(b->pprod, INPUT_TOPIC, NULL);
    b->rkt[1] = rd_kafka_topic_new(b->pprod, PIPE_TOPIC, NULL);
    for (int i = 0; i < 2; i++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t merr = b->rkt[i] ? rd_kafka_metadata(b->pprod, 0, b->rkt[i], &md, 10000)
                                             : RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (merr) {
            fprintf(stderr, "bench_latency: topic metadata: %s\n", rd_kafka_err2str(merr));
            goto out;
        }
        rd_kafka_metadata_destroy(md);
    }
    b->e = tl_engine_new(&cfg, prog, err, sizeof err);
    if (!b->e) {
        fprintf(stderr, "bench_latency: tl_engine_new: %s\n", err);
        goto out;
    }
    tl_engine_on_alert(b->e, on_alert, b);
    if (pthread_create(&reader_th, NULL, reader_main, b) != 0)
        goto out;
    started_reader = 1;
    if (pthread_create(&driver_th, NULL, driver_main, b) != 0)
        goto out;
    started_driver = 1;

    int erc = tl_engine_run(b->e);
    atomic_store(&b->engine_exited, 1);
    pthread_join(driver_th, NULL);
    started_driver = 0;
    if (erc != 0)
        fprintf(stderr, "bench_latency: the engine stopped with a fatal error\n");
    if (rd_kafka_flush(b->prod, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_flush(b->pprod, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "bench_latency: a producer did not flush\n");
    atomic_store(&b->reader_stop, 1);
    pthread_join(reader_th, NULL);
    started_reader = 0;

    tl_engine_stats s;
    tl_engine_stats_get(b->e, &s);
    int bad = erc != 0 || atomic_load(&b->failed) || b->nlevels_done < NLEVELS;
    if (atomic_load(&b->dr_failed)) {
        fprintf(stderr, "bench_latency: %llu messages were not delivered to the broker\n",
                (unsigned long long)atomic_load(&b->dr_failed));
        bad = 1;
    }
    if (b->unfolded) {
        fprintf(stderr,
                "bench_latency: %llu input messages were never folded: the backlog outgrew the mock broker's "
                "retention (the load was not sustained), so lost probes may be the broker's\n",
                (unsigned long long)b->unfolded);
        bad = 1;
    }
    if (s.malformed) {
        fprintf(stderr, "bench_latency: the engine dead-lettered %llu messages\n", (unsigned long long)s.malformed);
        bad = 1;
    }
    run_info ri = {.model = model, .overrides = overrides, .nproc = nproc, .nrules = prog->nrules};
    for (int i = 0; i < 4; i++)
        snprintf(ri.first[i], sizeof ri.first[i], "null");
    if (b->warm_k != UINT32_MAX) {
        const probe *p = &b->probes[b->warm_k];
        int64_t seen = atomic_load(&p->seen_ns), emit = atomic_load(&p->emit_ns), pipe = atomic_load(&p->pipe_ns);
        double f[4] = {ms_between(p->send_ns, seen), ms_between(p->send_ns, emit), ms_between(emit, seen),
                       ms_between(p->pipe_send_ns, pipe)};
        for (int i = 0; i < 4; i++)
            jnum(ri.first[i], sizeof ri.first[i], f[i]);
        fprintf(stderr,
                "  first alert of the run (warm-up probe): %.1f ms (engine %.1f ms, output %.1f ms; its marker "
                "%.1f ms)\n",
                f[0], f[1], f[2], f[3]);
        if (!seen) {
            fprintf(stderr, "  LOST: the warm-up probe's alert was never read\n");
            bad = 1;
        }
    }
    for (int i = 0; i < b->nlevels_done; i++)
        if (report_level(b, i, &ri) < 0)
            bad = 1;
    fprintf(stderr,
            "bench_latency: engine folded %llu events (%llu late, %llu held back for event-time alignment), produced "
            "%llu alerts; %llu other alerts, %llu duplicate probe alerts\n",
            (unsigned long long)s.events, (unsigned long long)s.late, (unsigned long long)s.holds,
            (unsigned long long)s.alerts,
            (unsigned long long)atomic_load(&b->other_alerts), (unsigned long long)atomic_load(&b->dup_alerts));
    rc = bad ? 1 : 0;
out:
    if (started_driver) { /* the engine never ran: stop the driver through the exit flag */
        atomic_store(&b->engine_exited, 1);
        pthread_join(driver_th, NULL);
    }
    if (started_reader) {
        atomic_store(&b->reader_stop, 1);
        pthread_join(reader_th, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (b->rkt[i])
            rd_kafka_topic_destroy(b->rkt[i]);
    rd_kafka_t *prods[2] = {b->prod, b->pprod};
    for (int i = 0; i < 2; i++) {
        if (prods[i]) {
            rd_kafka_flush(prods[i], 5000);
            rd_kafka_destroy(prods[i]);
        }
    }
    if (b->rd) {
        rd_kafka_consumer_close(b->rd);
        rd_kafka_destroy(b->rd);
    }
    tl_engine_destroy(b->e);
    pool_fini(&b->pl);
    tl_free(b->probes);
    for (int i = 0; i < NLEVELS; i++)
        tl_free(b->lv[i].wm_lag);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
    tl_mock_stop(&mock);
    fprintf(stderr, "bench_latency: %s in %.0fs\n", rc ? "FAILED" : "done", (double)(tl_bench_now_ns() - t_start) * 1e-9);
    return rc;
}
