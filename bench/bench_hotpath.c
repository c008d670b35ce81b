/* bench/bench_hotpath.c - the per-event path in memory, without Kafka: decode, filters and
 * routing, window updates, per-trace state, and rule evaluation, over pre-encoded synthetic
 * fleet events (JSON and Avro), on one thread.
 *
 * Baseline in the same run: decoding alone. Then the example pack's first nine rules (windows,
 * ratios, percentiles, arithmetic), then the whole pack (adding a 7-day baseline, a
 * release-aware rule, a sequence rule and a per-trace rule, which turn on per-trace state).
 * The difference between the last two is what the newer rule kinds cost per event.
 *
 * Workers: the whole pack again with 1 and then 2 worker threads, set up as the engine sets
 * them up. Events are split between workers by trace id (input partitions are keyed by trace
 * id and each partition belongs to one worker); each series belongs to the worker its key
 * hash names (tl_series_owner), so a worker folds what it owns, pre-aggregates the rest per
 * series in a combiner per owner (combine.h) and sends the deltas through an SPSC ring
 * (xfer.h) at each batch end of 1024 events, before it publishes its event time; the owner
 * drains its rings when it waits and at every batch end, then evaluates its shard, as
 * engine.c does. The 2-worker rate over the 1-worker rate (same code, same run) is the
 * scaling figure; per-core cost is wall time x workers / events.
 *
 * Baseline for the scaling: two independent one-thread pipelines over the same split, with
 * nothing shared (run_independent): what this machine gives two threads doing this work.
 *
 * Output: one JSON object per case on stdout, a summary on stderr. `--smoke` runs a tiny size.
 * Threading: the main thread builds the corpora; the worker cases start their own threads.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "avro_encode.h"
#include "combine.h"
#include "config.h"
#include "decode.h"
#include "fleet.h"
#include "json_encode.h"
#include "route.h"
#include "ring.h"
#include "rules.h"
#include "series.h"
#include "shard.h"
#include "traces.h"
#include "xfer.h"

#define MAX_W 2
#define RING_BYTES (1u << 22)

typedef struct corpus {
    char *buf;
    size_t *off, *len;
    size_t n;
} corpus;

static void build(corpus *c, size_t n, int avro)
{
    tl_fleet_opts fo = {.seed = 3, .start_ms = 1800000000000LL, .traces_per_sec = 20, .scenario = TL_FLEET_SCENARIO_DEMO};
    tl_fleet *f = tl_fleet_new(&fo);
    size_t cap = n * 400 + 4096, used = 0;
    c->buf = malloc(cap);
    c->off = malloc(n * sizeof *c->off);
    c->len = malloc(n * sizeof *c->len);
    c->n = n;
    tl_event ev;
    for (size_t i = 0; i < n; i++) {
        tl_fleet_next(f, &ev);
        size_t w = avro ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)c->buf + used, cap - used)
                        : tl_json_encode_event(&ev, c->buf + used, cap - used);
        c->off[i] = used;
        c->len[i] = w;
        used += w;
    }
    tl_fleet_destroy(f);
}

static void emit_synth(void *ctx, const tl_event *ev);

typedef struct pipeline {
    tl_program *prog;
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

/* mode 0: decode only; otherwise the whole per-event path for prog. Returns ns/event. */
static double run(const corpus *c, const tl_decoder *dec, tl_program *prog, uint64_t *alerts, uint64_t *decoded)
{
    static _Thread_local char scratch_buf[1 << 20];
    tl_json_scratch scr = {scratch_buf, sizeof scratch_buf, 0};
    tl_event ev;
    pipeline p = {.prog = prog};
    if (prog) {
        tl_shard_opts so = {0};
        p.shard = tl_shard_new(prog, &so);
        tl_router_init(&p.router, prog, 1);
        p.traces = prog->traces ? tl_traces_new(prog, 100000) : NULL;
    }
    *decoded = 0;
    int64_t wm = INT64_MIN;
    double t0 = tl_bench_now_s();
    for (size_t i = 0; i < c->n; i++) {
        tl_decode_err err;
        if (tl_decoder_decode(dec, c->buf + c->off[i], c->len[i], &ev, &scr, &err) < 0)
            continue;
        (*decoded)++;
        if (!prog)
            continue;
        tl_fold f;
        tl_router_route(&p.router, &ev, &f);
        tl_shard_fold(p.shard, &f, UINT32_MAX);
        if (p.traces)
            tl_traces_observe(p.traces, &ev, f.fbits, emit_synth, &p);
        if (ev.ts_ms > wm)
            wm = ev.ts_ms;
        if ((i & 1023) == 1023) { /* evaluation once per batch, as a worker does */
            if (p.traces)
                tl_traces_expire(p.traces, wm, emit_synth, &p);
            tl_shard_evaluate(p.shard, wm);
        }
    }
    double dt = tl_bench_now_s() - t0;
    *alerts = 0;
    if (prog) {
        tl_shard_stats st;
        tl_shard_stats_get(p.shard, &st);
        *alerts = st.alerts;
        tl_traces_destroy(p.traces);
        tl_router_fini(&p.router);
        tl_shard_destroy(p.shard);
    }
    return dt * 1e9 / (double)c->n;
}

/* Which of nw workers reads event i: split by trace id, as partitions keyed by trace id
 * assigned to workers would. *ts: the event's time (INT64_MIN if it does not decode). */
static uint32_t trace_part(const tl_decoder *dec, const corpus *c, size_t i, uint32_t nw, int64_t *ts)
{
    static _Thread_local char sbuf[1 << 20];
    tl_json_scratch scr = {sbuf, sizeof sbuf, 0};
    tl_event ev;
    tl_decode_err err;
    *ts = INT64_MIN;
    if (tl_decoder_decode(dec, c->buf + c->off[i], c->len[i], &ev, &scr, &err) < 0)
        return 0;
    *ts = ev.ts_ms;
    if (nw < 2)
        return 0;
    const tl_str *tid = &ev.str[TL_S_TRACE_ID];
    return (uint32_t)(tl_series_hash(tid->p, tid->n) % nw);
}

/* ---- the machine's own ceiling: independent pipelines -------------------------------------- */

/* The same split as the worker cases (by trace id), but each thread runs a whole one-thread
 * pipeline over its part with its own shard: no ring, no shared watermark, no ownership. The
 * results are wrong as alerts (each shard sees a part of every series) and are not used; the
 * rate is what this machine gives two threads doing this work with nothing shared, so
 * workers / independent is how close the engine's exchange comes to the hardware. */
typedef struct indep {
    corpus part;
    const tl_decoder *dec;
    tl_program *prog;
    uint64_t alerts, decoded;
    pthread_t th;
} indep;

static void *indep_main(void *arg)
{
    indep *x = arg;
    run(&x->part, x->dec, x->prog, &x->alerts, &x->decoded);
    return NULL;
}

static double run_independent(const corpus *c, const tl_decoder *dec, tl_program *prog, uint32_t nw)
{
    indep x[MAX_W];
    memset(x, 0, sizeof x);
    for (uint32_t k = 0; k < nw; k++) {
        x[k].part.buf = c->buf;
        x[k].part.off = malloc(c->n * sizeof *c->off);
        x[k].part.len = malloc(c->n * sizeof *c->len);
        x[k].dec = dec;
        x[k].prog = prog;
        if (!x[k].part.off || !x[k].part.len) {
            fprintf(stderr, "bench_hotpath: out of memory\n");
            exit(1);
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        int64_t ts;
        corpus *pc = &x[trace_part(dec, c, i, nw, &ts)].part;
        pc->off[pc->n] = c->off[i];
        pc->len[pc->n++] = c->len[i];
    }
    double t0 = tl_bench_now_s();
    for (uint32_t k = 0; k < nw; k++)
        if (pthread_create(&x[k].th, NULL, indep_main, &x[k]) != 0) {
            fprintf(stderr, "bench_hotpath: cannot start a thread\n");
            exit(1);
        }
    for (uint32_t k = 0; k < nw; k++)
        pthread_join(x[k].th, NULL);
    double dt = tl_bench_now_s() - t0;
    for (uint32_t k = 0; k < nw; k++) {
        free(x[k].part.off);
        free(x[k].part.len);
    }
    return dt * 1e9 / (double)c->n;
}

/* ---- 1 and 2 workers ------------------------------------------------------------------------ */

typedef struct wk wk;
typedef struct wset {
    const corpus *c;
    const tl_decoder *dec;
    tl_program *prog;
    uint32_t nw;
    wk *w[MAX_W];
    tl_ring *ring[MAX_W][MAX_W]; /* [from][to] */
    _Atomic int64_t pub_ts[MAX_W]; /* newest event time whose contributions are published */
    _Atomic uint32_t ready, finished;
    _Atomic int go;
    int64_t max_ts; /* newest event time in the corpus: the final evaluation */
} wset;

struct wk {
    wset *ws;
    uint32_t id;
    uint32_t *idx; /* the corpus events this worker reads (its "partitions") */
    size_t n;
    tl_router router;
    tl_shard *shard;
    tl_traces *traces;
    tl_fold_key *keys; /* decoded ring records' keys (ngroups) */
    tl_combiner *comb[MAX_W]; /* deltas for owner o's series (combine.h), as engine.c */
    struct out_ctx {
        struct wk *w;
        uint32_t o;
    } out_ctx[MAX_W];
    uint64_t decoded;
    pthread_t th;
};

static void wk_drain(wk *w)
{
    wset *ws = w->ws;
    for (uint32_t s = 0; s < ws->nw; s++) {
        tl_ring *r = ws->ring[s][w->id];
        const void *rec;
        size_t len;
        while (r && (rec = tl_ring_peek(r, &len))) {
            tl_xfer_apply(rec, w->shard, w->keys, w->id, ws->prog->filter_words);
            tl_ring_consume(r);
        }
    }
}

static void *wk_reserve(void *ctx, size_t n)
{
    struct out_ctx *c = ctx;
    wk *w = c->w;
    tl_ring *r = w->ws->ring[w->id][c->o];
    void *buf;
    while (!(buf = tl_ring_reserve(r, n))) { /* backpressure, as engine.c */
        tl_ring_publish(r);
        wk_drain(w);
        sched_yield();
    }
    return buf;
}

/* Route and fold: what this worker owns here; the rest into its combiners (or, when they do
 * not take it, as FOLD records into the owners' rings), as engine.c. Sets f->fbits even when
 * no series is keyed (the trace matcher needs them). */
static void wk_fold(wk *w, const tl_event *ev, tl_fold *fp)
{
    wset *ws = w->ws;
    tl_fold f;
    uint32_t nk = tl_router_route(&w->router, ev, &f);
    *fp = f;
    if (!nk)
        return;
    uint64_t owners = 0;
    for (uint32_t k = 0; k < f.nkeys; k++) {
        tl_fold_key *fk = &f.keys[k];
        if (fk->owner == w->id)
            continue;
        if (w->comb[fk->owner] && tl_combiner_add(w->comb[fk->owner], &f, fk, wk_reserve, &w->out_ctx[fk->owner]) == 0) {
            fk->owner = TL_OWNER_NONE;
            continue;
        }
        owners |= 1ull << fk->owner;
    }
    while (owners) {
        uint32_t o = (uint32_t)__builtin_ctzll(owners);
        owners &= owners - 1;
        size_t sz = tl_xfer_fold_size(&f, o, ws->prog->filter_words);
        tl_xfer_fold_encode(wk_reserve(&w->out_ctx[o], sz), &f, o, ws->prog->filter_words);
    }
    tl_shard_fold(w->shard, &f, w->id);
}

static void wk_synth(void *ctx, const tl_event *ev)
{
    tl_fold f;
    wk_fold(ctx, ev, &f);
}

/* Contributions first (the combiners' deltas, then the rings), then the event time they lead
 * to, as engine.c does at a batch end. */
static void wk_publish(wk *w, int64_t ts)
{
    for (uint32_t o = 0; o < w->ws->nw; o++) {
        if (!w->ws->ring[w->id][o])
            continue;
        if (w->comb[o] && tl_combiner_pending(w->comb[o]))
            tl_combiner_flush(w->comb[o], wk_reserve, &w->out_ctx[o]);
        tl_ring_publish(w->ws->ring[w->id][o]);
    }
    atomic_store_explicit(&w->ws->pub_ts[w->id], ts, memory_order_release);
}

/* The watermark, as the engine's: the oldest of the workers' published event times, so that
 * every contribution up to it is in this worker's rings before it evaluates. */
static int64_t wk_watermark(wset *ws)
{
    int64_t wm = INT64_MAX;
    for (uint32_t k = 0; k < ws->nw; k++) {
        int64_t t = atomic_load_explicit(&ws->pub_ts[k], memory_order_acquire);
        wm = t < wm ? t : wm;
    }
    return wm;
}

static void *wk_main(void *arg)
{
    wk *w = arg;
    wset *ws = w->ws;
    static _Thread_local char scratch_buf[1 << 20];
    tl_json_scratch scr = {scratch_buf, sizeof scratch_buf, 0};
    tl_event ev;
    int64_t wm = INT64_MIN;
    atomic_fetch_add(&ws->ready, 1);
    while (!atomic_load(&ws->go))
        ;
    for (size_t j = 0; j < w->n; j++) {
        uint32_t i = w->idx[j];
        tl_decode_err err;
        if (tl_decoder_decode(ws->dec, ws->c->buf + ws->c->off[i], ws->c->len[i], &ev, &scr, &err) < 0)
            continue;
        w->decoded++;
        /* event-time alignment, as the engine holds a partition that runs ahead: fold nothing
         * further ahead of the watermark than the rings' lead (unless this worker is behind) */
        int64_t lead = tl_program_lead_ms(ws->prog);
        for (int64_t g = wk_watermark(ws); ev.ts_ms > g + lead && wm > g; g = wk_watermark(ws)) {
            wk_publish(w, wm);
            wk_drain(w);
            sched_yield();
        }
        tl_fold f;
        wk_fold(w, &ev, &f);
        if (w->traces)
            tl_traces_observe(w->traces, &ev, f.fbits, wk_synth, w);
        if (ev.ts_ms > wm)
            wm = ev.ts_ms;
        if ((j & 1023) == 1023) { /* batch end: apply what others sent, then evaluate */
            if (w->traces)
                tl_traces_expire(w->traces, wm, wk_synth, w);
            wk_publish(w, wm);
            int64_t gwm = wk_watermark(ws);
            wk_drain(w);
            if (gwm != INT64_MIN)
                tl_shard_evaluate(w->shard, gwm);
        }
    }
    wk_publish(w, INT64_MAX);
    atomic_fetch_add(&ws->finished, 1);
    while (atomic_load(&ws->finished) < ws->nw) /* the others may still send to us */
        wk_drain(w);
    wk_drain(w);
    tl_shard_evaluate(w->shard, ws->max_ts);
    return NULL;
}

/* The whole pack with nw workers over all of c. Returns wall ns per event; *alerts summed. */
static double run_workers(const corpus *c, const tl_decoder *dec, tl_program *prog, uint32_t nw, uint64_t *alerts,
                          uint64_t *decoded)
{
    wset ws = {.c = c, .dec = dec, .prog = prog, .nw = nw, .max_ts = INT64_MIN};
    for (uint32_t k = 0; k < nw; k++)
        atomic_init(&ws.pub_ts[k], INT64_MIN);
    wk w[MAX_W];
    memset(w, 0, sizeof w);
    for (uint32_t k = 0; k < nw; k++) {
        w[k].ws = &ws;
        w[k].id = k;
        w[k].idx = malloc(c->n * sizeof *w[k].idx);
        w[k].keys = malloc((prog->ngroups + 1) * sizeof *w[k].keys);
        w[k].shard = tl_shard_new(prog, &(tl_shard_opts){.nowners = nw});
        w[k].traces = prog->traces ? tl_traces_new(prog, 100000) : NULL;
        if (!w[k].idx || !w[k].keys || !w[k].shard || tl_router_init(&w[k].router, prog, nw) < 0) {
            fprintf(stderr, "bench_hotpath: out of memory\n");
            exit(1);
        }
        ws.w[k] = &w[k];
        for (uint32_t o = 0; o < nw; o++) {
            if (o == k)
                continue;
            w[k].out_ctx[o] = (struct out_ctx){&w[k], o};
            if (!(ws.ring[k][o] = tl_ring_new(RING_BYTES)) || !(w[k].comb[o] = tl_combiner_new(prog, 0))) {
                fprintf(stderr, "bench_hotpath: out of memory\n");
                exit(1);
            }
        }
    }
    /* split by trace id, as partitions keyed by trace id assigned to workers would */
    for (size_t i = 0; i < c->n; i++) {
        int64_t ts;
        uint32_t k = trace_part(dec, c, i, nw, &ts);
        if (ts > ws.max_ts)
            ws.max_ts = ts;
        w[k].idx[w[k].n++] = (uint32_t)i;
    }
    for (uint32_t k = 0; k < nw; k++)
        if (pthread_create(&w[k].th, NULL, wk_main, &w[k]) != 0) {
            fprintf(stderr, "bench_hotpath: cannot start a worker\n");
            exit(1);
        }
    while (atomic_load(&ws.ready) < nw)
        ;
    double t0 = tl_bench_now_s();
    atomic_store(&ws.go, 1);
    for (uint32_t k = 0; k < nw; k++)
        pthread_join(w[k].th, NULL);
    double dt = tl_bench_now_s() - t0;
    *alerts = 0;
    *decoded = 0;
    for (uint32_t k = 0; k < nw; k++) {
        tl_shard_stats st;
        tl_shard_stats_get(w[k].shard, &st);
        *alerts += st.alerts;
        *decoded += w[k].decoded;
        tl_traces_destroy(w[k].traces);
        tl_router_fini(&w[k].router);
        tl_shard_destroy(w[k].shard);
        free(w[k].idx);
        free(w[k].keys);
        for (uint32_t o = 0; o < nw; o++) {
            tl_ring_destroy(ws.ring[k][o]);
            tl_combiner_destroy(w[k].comb[o]);
        }
    }
    return dt * 1e9 / (double)c->n;
}

static tl_program *load(const char *text, size_t len)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("rules/support-agent.yaml", text, len, &ro, &errs);
    if (!p)
        fprintf(stderr, "bench_hotpath: rules: %s\n", ebuf);
    return p;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    if (smoke)
        n = 20000;
    /* `--profile json|avro [N]`: only that format's whole-pack run on one thread, once, over N
     * events (default 1M), for perf or callgrind. */
    int profile = argc > 2 && strcmp(argv[1], "--profile") == 0 ? (strcmp(argv[2], "avro") == 0 ? 2 : 1) : 0;
    if (profile && argc > 3)
        n = (size_t)strtoull(argv[3], NULL, 10);
    static char pack[1 << 16];
    long rd = tl_bench_read_file("rules/support-agent.yaml", pack, sizeof pack, "bench_hotpath");
    if (rd < 0)
        return 1;
    size_t plen = (size_t)rd;
    const char *cut = strstr(pack, "  # --- comparisons with the past");
    size_t first9 = cut ? (size_t)(cut - pack) : plen;
    tl_program *p9 = load(pack, first9), *pall = load(pack, plen);
    if (!p9 || !pall)
        return 1;
    tl_config cfg;
    tl_config_init(&cfg);
    char err[256];
    tl_decoder *dec = tl_decoder_new(&cfg, err, sizeof err);
    if (!dec) {
        fprintf(stderr, "bench_hotpath: %s\n", err);
        return 1;
    }
    int bad = 0;
    for (int avro = 0; avro < 2; avro++) {
        if (profile && avro != profile - 1)
            continue;
        corpus c;
        build(&c, n, avro);
        if (profile) {
            uint64_t a, d;
            double x = run(&c, dec, pall, &a, &d);
            fprintf(stderr, "hotpath %s profile: %zu events, %.0f ns/event, %llu alerts\n", avro ? "avro" : "json", n, x,
                    (unsigned long long)a);
            free(c.buf);
            free(c.off);
            free(c.len);
            continue;
        }
        uint64_t a0, a9, aall, d0, d9, dall;
        double best0 = 1e18, best9 = 1e18, bestall = 1e18;
        for (int rep = 0; rep < (smoke ? 1 : 3); rep++) {
            double x = run(&c, dec, NULL, &a0, &d0);
            double y = run(&c, dec, p9, &a9, &d9);
            double z = run(&c, dec, pall, &aall, &dall);
            best0 = x < best0 ? x : best0;
            best9 = y < best9 ? y : best9;
            bestall = z < bestall ? z : bestall;
        }
        const char *fmt = avro ? "avro" : "json";
        if (d0 != n || d9 != n || dall != n) {
            fprintf(stderr, "bench_hotpath: %s: decoded %llu/%llu/%llu of %zu\n", fmt, (unsigned long long)d0,
                    (unsigned long long)d9, (unsigned long long)dall, n);
            bad = 1;
        }
        printf("{\"bench\":\"hotpath\",\"format\":\"%s\",\"events\":%zu,\"threads\":1,"
               "\"decode_only_ns\":%.1f,\"pack9_ns\":%.1f,\"pack_all_ns\":%.1f,"
               "\"pack_all_events_per_sec\":%.0f,\"new_kinds_ns\":%.1f,\"alerts_pack9\":%llu,\"alerts_pack_all\":%llu}\n",
               fmt, n, best0, best9, bestall, 1e9 / bestall, bestall - best9, (unsigned long long)a9,
               (unsigned long long)aall);
        fprintf(stderr,
                "hotpath %s: decode %.0f ns/event; + 9 rules %.0f ns; + all 13 rules (baseline, release, sequence, "
                "per-trace) %.0f ns = %.2fM events/s on one core; the newer rule kinds add %.0f ns/event\n",
                fmt, best0, best9, bestall, 1e3 / bestall, bestall - best9);
        /* the whole pack with 1 and 2 worker threads */
        double bw[MAX_W + 1] = {0, 1e18, 1e18};
        uint64_t aw[MAX_W + 1] = {0}, dw[MAX_W + 1] = {0};
        double bi[MAX_W + 1] = {0, 1e18, 1e18};
        for (int rep = 0; rep < (smoke ? 1 : 5); rep++)
            for (uint32_t nw = 1; nw <= MAX_W; nw++) {
                double x = run_workers(&c, dec, pall, nw, &aw[nw], &dw[nw]);
                bw[nw] = x < bw[nw] ? x : bw[nw];
                x = run_independent(&c, dec, pall, nw);
                bi[nw] = x < bi[nw] ? x : bi[nw];
            }
        for (uint32_t nw = 1; nw <= MAX_W; nw++) {
            if (dw[nw] != n) {
                fprintf(stderr, "bench_hotpath: %s, %u workers: decoded %llu of %zu\n", fmt, nw,
                        (unsigned long long)dw[nw], n);
                bad = 1;
            }
            printf("{\"bench\":\"hotpath_workers\",\"format\":\"%s\",\"events\":%zu,\"threads\":%u,"
                   "\"wall_ns_per_event\":%.1f,\"cpu_ns_per_event\":%.1f,\"events_per_sec\":%.0f,"
                   "\"speedup_vs_1_worker\":%.3f,\"alerts\":%llu,\"independent_wall_ns_per_event\":%.1f,"
                   "\"independent_speedup\":%.3f,\"vs_independent\":%.3f}\n",
                   fmt, n, nw, bw[nw], bw[nw] * nw, 1e9 / bw[nw], bw[1] / bw[nw], (unsigned long long)aw[nw], bi[nw],
                   bi[1] / bi[nw], bi[nw] / bw[nw]);
        }
        if (aw[2] != aw[1]) { /* same transitions whatever the split: a bench or engine fault */
            fprintf(stderr, "bench_hotpath: %s: %llu alerts with 1 worker, %llu with 2\n", fmt, (unsigned long long)aw[1],
                    (unsigned long long)aw[2]);
            bad = 1;
        }
        fprintf(stderr, "hotpath %s workers: 1 worker %.2fM events/s, 2 workers %.2fM events/s = %.2fx (%.0f ns per event "
                "per core); two independent pipelines, nothing shared: %.2fx\n", fmt, 1e3 / bw[1], 1e3 / bw[2],
                bw[1] / bw[2], bw[2] * 2, bi[1] / bi[2]);
        free(c.buf);
        free(c.off);
        free(c.len);
    }
    tl_decoder_destroy(dec);
    tl_config_fini(&cfg);
    tl_program_destroy(p9);
    tl_program_destroy(pall);
    return bad;
}
