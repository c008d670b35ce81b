/* engine/engine.c - consumer group, worker threads, watermarks and offset safety.
 *
 * See engine.h for the thread model. The pieces here, and why:
 *
 * Partition queues. On assignment the main thread forwards each partition's queue to one
 * worker's queue (round-robin), so a worker consumes a fixed set of partitions without
 * touching the others (librdkafka 2.0.2 guidance in ../shared/KNOWLEDGE.md). Batch consume
 * calls are not safe against a concurrent assign, so assignment changes happen while the
 * workers are held (they acknowledge the hold at the top of their loop and keep doing owner
 * duties, but no consume call is in flight).
 *
 * Ownership of series. A series belongs to worker tl_series_owner(hash). The consuming
 * worker applies the contributions it owns directly and ships the others through an SPSC
 * ring per (from, to) pair, followed at the end of each batch by a MARK(seq) record.
 *
 * Watermark. Each worker publishes the minimum, over its partitions that are active (have
 * data, are not at their end, and delivered something within idle_timeout), of the largest
 * event time seen. "At its end" counts only window.eof_grace (default 0) after the
 * partition's last message: with a producer still writing, reaching the end is often
 * momentary, and letting the watermark jump to the other partitions' newest event would make
 * this partition's next messages late when event time runs much faster than the wall clock
 * (the demo's 7-day history sent in seconds sets 250 ms). It is off by default because while
 * catching up on a backlog it delays the watermark, and messages held behind it, at each
 * partition's end; the global watermark is the minimum over workers. When no partition is
 * active it is the largest event time seen, advanced with the wall clock once nothing at all
 * has arrived for idle_timeout, so alerts still resolve when traffic stops. It never goes
 * back. Evaluation runs at the watermark; events more than `lateness` behind it are late.
 *
 * Offsets (at-least-once). Batch b of worker w is safe once every owner o has published
 * done[o][w] >= b, i.e. o applied b's contributions (it saw MARK(b)), evaluated after that,
 * and every alert of that evaluation was acknowledged; and b's own dead-letter copies were
 * acknowledged. Safe offsets are handed to rd_kafka_offsets_store() at most every 50 ms;
 * auto-commit commits them, and shutdown or revocation commits synchronously.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "checkpoint.h"
#include "ckstore.h"
#include "combine.h"
#include "decode.h"
#include "engine.h"
#include "heartbeat.h"
#include "log.h"
#include "output.h"
#include "ring.h"
#include "rules.h"
#include "route.h"
#include "selfalert.h"
#include "shard.h"
#include "timefmt.h"
#include "traces.h"
#include "xfer.h"

#define MAX_WORKERS 64
#define BATCH_MAX 1024
#define BATCH_FIFO 512
#define PASS_FIFO 64
#define MAX_PARTS 1024
#define RING_BYTES (4u << 20)
#define STORE_INTERVAL_MS 50
/* Held-back messages a worker keeps in memory before it pauses the partitions running ahead.
 * Pausing is the last resort: librdkafka 2.0.2 drops what it had prefetched for a paused
 * partition and may leave it unfetched for up to a second after the resume. */
#define HOLD_BUDGET_BYTES (64u << 20)

typedef struct part {
    char *topic;
    int32_t partition;
    int has_data;
    int eof;
    int paused;
    int64_t first_ts;
    int64_t max_ts;
    int64_t assigned_wall;
    int64_t last_wall;
    int64_t ready;  /* next offset safe to store */
    int64_t stored; /* next offset handed to offsets_store */
    /* Event-time alignment: messages of this partition held back because they are more than
     * the lead ahead of the watermark (FIFO, in offset order). ts is INT64_MIN until the
     * message has been decoded once. */
    rd_kafka_message_t **hold;
    int64_t *hold_ts;
    uint32_t h_head, h_n, h_cap;
} part;

/* A worker whose partitions have not all reported yet cannot say where its event time is. */
#define WM_BLOCKED (INT64_MIN + 1)

typedef struct batch {
    uint64_t seq;
    tl_ack dlq;
    uint32_t n;
    struct {
        uint32_t part;
        int64_t off;
    } e[MAX_PARTS];
} batch;

typedef struct pass {
    tl_ack ack;
    uint64_t applied[MAX_WORKERS];
} pass;

typedef struct worker {
    struct tl_engine *eng;
    const tl_program *prog; /* the rules this worker runs (changes only at a reload, while held) */
    uint32_t id;
    pthread_t th;
    int started;
    rd_kafka_queue_t *q;
    tl_shard *shard;
    tl_traces *traces; /* per-trace state, when a rule needs it (NULL otherwise) */
    tl_router router;
    tl_event ev;
    tl_json_scratch scratch;
    tl_fold_key *keys;
    tl_ring *out[MAX_WORKERS]; /* to owner o (NULL for self) */
    tl_combiner *comb[MAX_WORKERS]; /* deltas for owner o's series (NULL for self) */
    struct out_ctx {
        struct worker *w;
        uint32_t o;
    } out_ctx[MAX_WORKERS];
    tl_ring *in[MAX_WORKERS];  /* from worker s (NULL for self) */
    part *parts;
    uint32_t nparts;
    part *pending_parts; /* set by the main thread while holding; adopted by the worker */
    uint32_t npending;
    _Atomic int parts_update;
    const tl_program *new_prog; /* reload: set by the main thread while holding */
    _Atomic int swap;           /* 1: adopt new_prog at the next hold acknowledgement */
    int swap_failed;
    batch *batches;
    uint32_t b_head, b_count;
    uint64_t seq;
    pass *passes;
    uint32_t p_head, p_count;
    uint64_t applied[MAX_WORKERS];
    pass *cur_pass;
    int64_t last_store_wall;
    /* published to other threads */
    _Atomic uint64_t done[MAX_WORKERS]; /* as owner: batches of worker s fully done */
    _Atomic int64_t low_wm;
    _Atomic int64_t eval_wm; /* as owner: the watermark of its last evaluation */
    _Atomic int64_t max_ts;
    _Atomic int64_t last_msg_wall;
    _Atomic int ack_gen;
    _Atomic int quiescent;
    _Atomic int finished;
    _Atomic int stopped_consuming;
    _Atomic uint64_t s_messages, s_events, s_malformed, s_holds, s_consumes, s_ring_waits;
    _Atomic uint32_t s_batches; /* batches whose offsets are not stored yet */
    _Atomic uint64_t s_late, s_series, s_overflowed, s_capped; /* from the shard, after each evaluation */
    uint64_t messages, events, malformed;
    uint64_t held;       /* messages held back across all partitions */
    uint64_t holds;      /* messages ever held back (each is decoded at most twice) */
    uint64_t consumes;   /* consume calls that returned messages */
    uint64_t ring_waits; /* times a full ring to another worker made this one wait */
    uint64_t held_bytes; /* their payload bytes (against HOLD_BUDGET_BYTES) */
} worker;

struct tl_engine {
    const tl_config *cfg;
    const tl_program *prog;
    rd_kafka_t *rk;
    tl_output *out;
    tl_decoder *dec;
    worker *w;
    uint32_t nw;
    _Atomic int stop;
    _Atomic int stopping;
    _Atomic int hold;
    _Atomic int hold_gen;
    _Atomic int64_t wm;
    _Atomic int exit_at_end;
    _Atomic int reload;        /* a rule reload was requested (SIGHUP, --watch) */
    tl_program *owned[64];     /* programs loaded by reloads (the first one is the caller's) */
    int nowned;
    uint64_t reloads, reload_failures;
    int64_t watch_next;
    uint64_t watch_sig;
    atomic_int assigned; /* partitions currently assigned (read by tl_engine_stats_get) */
    int fatal;
    tl_engine_alert_fn on_alert;
    void *on_alert_ctx;
    tl_engine_tick_fn on_tick;
    void *on_tick_ctx;
    tl_ckpt_section section; /* the checkpoint's engine section (self alerts); ctx NULL: none */
    /* checkpoints (state.dir): taken by the main thread with the workers parked */
    _Atomic int park;         /* 1: held workers also stop their owner duties */
    tl_ckpt_offset *ck_offs;  /* offsets of the last durable checkpoint (loaded or written) */
    size_t ck_noffs;
    int64_t next_ckpt;
    _Atomic uint64_t checkpoints, checkpoint_failures, checkpoint_bytes;
    _Atomic uint64_t input_gaps, input_gap_messages; /* check_input_gaps */
    _Atomic uint64_t split_assignments;              /* check_whole_topics */
    _Atomic int64_t checkpoint_ms;
    _Atomic int degraded;
    int stopped; /* the workers have exited (tl_engine_run returned) */
    tl_ckstore *store; /* state.store: kafka: the checkpoint's copy in a compacted topic */
    tl_heartbeat *hb; /* heartbeat.h: the always-firing alert (alerts.heartbeat); NULL when off */
    tl_selfalert *sa; /* selfalert.h: alerts about tripline itself (alerts.self_check_interval); NULL when off */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- watermark ------------------------------------------------------------------------- */

static void publish_watermark(worker *w, int64_t now)
{
    int64_t lo = INT64_MAX, mx = INT64_MIN, idle = w->eng->cfg->idle_timeout_ms;
    int blocked = 0;
    for (uint32_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        int64_t c;
        if (p->has_data && p->max_ts > mx)
            mx = p->max_ts;
        if (p->h_n) {
            c = p->hold_ts[p->h_head]; /* its next event: the partition is at least there */
        } else if (!p->has_data) {
            /* not heard from yet: wait for its first event or its end, up to idle_timeout,
             * so a partition that is slow to start is not left behind as "late" */
            if (!p->eof && now - p->assigned_wall < idle)
                blocked = 1;
            continue;
        } else if ((p->eof && now - p->last_wall >= w->eng->cfg->eof_grace_ms) || now - p->last_wall >= idle) {
            continue; /* caught up or idle: does not hold the watermark back */
        } else {
            c = p->max_ts;
        }
        if (c < lo)
            lo = c;
    }
    atomic_store_explicit(&w->low_wm, blocked ? WM_BLOCKED : lo, memory_order_release);
    if (mx > atomic_load_explicit(&w->max_ts, memory_order_relaxed))
        atomic_store_explicit(&w->max_ts, mx, memory_order_release);
}

static int64_t global_watermark(tl_engine *e, int64_t now)
{
    int64_t lo = INT64_MAX, mx = INT64_MIN, last = INT64_MIN;
    for (uint32_t i = 0; i < e->nw; i++) {
        int64_t l = atomic_load_explicit(&e->w[i].low_wm, memory_order_acquire);
        int64_t m = atomic_load_explicit(&e->w[i].max_ts, memory_order_acquire);
        int64_t lw = atomic_load_explicit(&e->w[i].last_msg_wall, memory_order_relaxed);
        if (l == WM_BLOCKED)
            return atomic_load(&e->wm);
        if (l < lo)
            lo = l;
        if (m > mx)
            mx = m;
        if (lw > last)
            last = lw;
    }
    int64_t wm;
    if (lo != INT64_MAX)
        wm = lo;
    else if (mx == INT64_MIN)
        return atomic_load(&e->wm);
    else {
        wm = mx;
        int64_t idle = now - last;
        if (last != INT64_MIN && idle > e->cfg->idle_timeout_ms && !atomic_load(&e->exit_at_end))
            wm = mx + idle;
    }
    int64_t cur = atomic_load(&e->wm);
    while (wm > cur && !atomic_compare_exchange_weak(&e->wm, &cur, wm))
        ;
    return wm > cur ? wm : cur;
}

/* ---- alerts ---------------------------------------------------------------------------- */

static void sink(void *ctx, const tl_alert *a)
{
    worker *w = ctx;
    tl_engine *e = w->eng;
    tl_output_alert(e->out, a, w->cur_pass ? &w->cur_pass->ack : NULL);
    if (e->cfg->print_alerts) {
        char line[2048];
        tl_alert_format_line(a, line, sizeof line);
        printf("%s\n", line);
        fflush(stdout);
    }
    if (e->on_alert)
        e->on_alert(e->on_alert_ctx, a);
}

/* ---- owner duties ------------------------------------------------------------------------ */

static void fold_synthetic(void *ctx, const tl_event *ev);
static void push_out(struct worker *w);

static void drain_in(worker *w)
{
    tl_engine *e = w->eng;
    for (uint32_t s = 0; s < e->nw; s++) {
        tl_ring *r = w->in[s];
        if (!r)
            continue;
        size_t n;
        const void *rec;
        while ((rec = tl_ring_peek(r, &n))) {
            if (tl_xfer_type(rec) == TL_XFER_MARK)
                w->applied[s] = tl_xfer_mark_seq(rec);
            else
                tl_xfer_apply(rec, w->shard, w->keys, w->id, w->prog->filter_words);
            tl_ring_consume(r);
        }
    }
}

static pass *pass_begin(worker *w)
{
    if (w->p_count) {
        pass *tail = &w->passes[(w->p_head + w->p_count - 1) % PASS_FIFO];
        /* an empty tail can take more; a full FIFO merges into its tail (only delays it) */
        if (atomic_load(&tail->ack.outstanding) == 0 || w->p_count == PASS_FIFO)
            return tail;
    }
    pass *p = &w->passes[(w->p_head + w->p_count) % PASS_FIFO];
    w->p_count++;
    atomic_store(&p->ack.outstanding, 0);
    return p;
}

static void complete_passes(worker *w)
{
    tl_engine *e = w->eng;
    while (w->p_count) {
        pass *p = &w->passes[w->p_head];
        if (atomic_load_explicit(&p->ack.outstanding, memory_order_acquire) != 0)
            break;
        for (uint32_t s = 0; s < e->nw; s++)
            if (p->applied[s] > atomic_load_explicit(&w->done[s], memory_order_relaxed))
                atomic_store_explicit(&w->done[s], p->applied[s], memory_order_release);
        w->p_head = (w->p_head + 1) % PASS_FIFO;
        w->p_count--;
    }
}

static void store_offsets(worker *w, int64_t now, int force)
{
    tl_engine *e = w->eng;
    uint64_t safe = UINT64_MAX;
    for (uint32_t o = 0; o < e->nw; o++) {
        uint64_t d = atomic_load_explicit(&e->w[o].done[w->id], memory_order_acquire);
        if (d < safe)
            safe = d;
    }
    while (w->b_count) {
        batch *b = &w->batches[w->b_head];
        if (b->seq > safe || atomic_load_explicit(&b->dlq.outstanding, memory_order_acquire) != 0)
            break;
        for (uint32_t i = 0; i < b->n; i++)
            if (b->e[i].off > w->parts[b->e[i].part].ready)
                w->parts[b->e[i].part].ready = b->e[i].off;
        w->b_head = (w->b_head + 1) % BATCH_FIFO;
        w->b_count--;
    }
    atomic_store_explicit(&w->s_batches, w->b_count, memory_order_relaxed);
    if (e->cfg->state_dir)
        return; /* with checkpoints, only offsets a durable checkpoint covers are stored (main thread) */
    if (!force && now - w->last_store_wall < STORE_INTERVAL_MS)
        return;
    w->last_store_wall = now;
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->nparts; i++)
        n += w->parts[i].ready > w->parts[i].stored;
    if (!n)
        return;
    /* one small list per store call (at most every STORE_INTERVAL_MS), not per event */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (uint32_t i = 0; i < w->nparts; i++) {
        part *p = &w->parts[i];
        if (p->ready > p->stored) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->ready;
            p->stored = p->ready;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(e->rk, l);
    if (err)
        tl_log(TL_LOG_WARN, "worker %u: storing offsets: %s", w->id, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

static void owner_duties(worker *w, int64_t now)
{
    tl_engine *e = w->eng;
    /* Watermark first, rings second: every worker pushes its contributions before it
     * publishes the watermark they lead to, so after this order every contribution for
     * event times below wm is applied before the evaluation at wm. */
    int64_t wm = global_watermark(e, now);
    drain_in(w);
    w->applied[w->id] = w->seq;
    pass *p = pass_begin(w);
    memcpy(p->applied, w->applied, sizeof p->applied);
    w->cur_pass = p;
    if (w->traces)
        tl_traces_expire(w->traces, wm, fold_synthetic, w);
    tl_shard_evaluate(w->shard, wm);
    atomic_store_explicit(&w->eval_wm, wm, memory_order_release);
    w->cur_pass = NULL;
    tl_shard_stats ss;
    tl_shard_stats_get(w->shard, &ss);
    atomic_store_explicit(&w->s_late, ss.late, memory_order_relaxed);
    atomic_store_explicit(&w->s_series, ss.series, memory_order_relaxed);
    atomic_store_explicit(&w->s_overflowed, ss.overflowed, memory_order_relaxed);
    atomic_store_explicit(&w->s_capped, ss.capped, memory_order_relaxed);
    /* after this pass's pushes too (its combiner flush can wait as well) */
    atomic_store_explicit(&w->s_ring_waits, w->ring_waits, memory_order_relaxed);
    complete_passes(w);
    store_offsets(w, now, atomic_load(&e->stopping) || atomic_load(&e->hold));
    push_out(w);
}

/* ---- consuming ----------------------------------------------------------------------------- */

static uint32_t part_index(worker *w, const rd_kafka_message_t *m, uint32_t hint)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (hint < w->nparts && w->parts[hint].partition == m->partition && strcmp(w->parts[hint].topic, topic) == 0)
        return hint;
    for (uint32_t i = 0; i < w->nparts; i++)
        if (w->parts[i].partition == m->partition && strcmp(w->parts[i].topic, topic) == 0)
            return i;
    return UINT32_MAX;
}

static void *ring_reserve(worker *w, uint32_t o, size_t n)
{
    void *buf = tl_ring_reserve(w->out[o], n);
    if (buf)
        return buf;
    w->ring_waits++;
    do {
        /* backpressure: let the owner catch up, and keep our own rings moving meanwhile */
        tl_ring_publish(w->out[o]);
        drain_in(w);
        sched_yield();
    } while (!(buf = tl_ring_reserve(w->out[o], n)));
    return buf;
}

/* Offsets of processed messages go into the batch record (per partition, in order). */
static void batch_record(batch *b, uint32_t pi, int64_t next_offset, uint32_t *hint)
{
    if (*hint < b->n && b->e[*hint].part == pi) {
        b->e[*hint].off = next_offset;
        return;
    }
    uint32_t k;
    for (k = 0; k < b->n && b->e[k].part != pi; k++)
        ;
    if (k == b->n)
        b->e[b->n++].part = pi;
    b->e[k].off = next_offset;
    *hint = k;
}

/* Decode m into w->ev; on failure copy it to the dead-letter topic. Returns 0 if decoded. */
static int decode_or_dead_letter(worker *w, batch *b, const rd_kafka_message_t *m)
{
    tl_decode_err err;
    if (tl_decoder_decode(w->eng->dec, m->payload, m->len, &w->ev, &w->scratch, &err) == 0)
        return 0;
    char reason[256];
    tl_decode_err_format(&err, reason, sizeof reason);
    tl_output_dead_letter(w->eng->out, m, tl_decode_code_name(err.code), reason, &b->dlq);
    w->malformed++;
    return -1;
}

static void *reserve_out(void *ctx, size_t n)
{
    struct out_ctx *c = ctx;
    return ring_reserve(c->w, c->o, n);
}

/* Send what the combiners hold and make everything written to the rings visible. Before a
 * batch's MARK, and after the owner duties (whose trace expiry may fold synthetic events). */
static void push_out(worker *w)
{
    for (uint32_t o = 0; o < w->eng->nw; o++) {
        if (!w->out[o])
            continue;
        if (w->comb[o] && tl_combiner_pending(w->comb[o]))
            tl_combiner_flush(w->comb[o], reserve_out, &w->out_ctx[o]);
        tl_ring_publish(w->out[o]);
    }
}

/* Route one event and fold it: the contributions this worker owns here; those of other
 * owners' series into this worker's combiner for that owner (combine.h), or, when it does not
 * take them, as FOLD records into the owner's ring. */
static void fold_routed(worker *w, const tl_event *ev, tl_fold *f)
{
    tl_engine *e = w->eng;
    if (!tl_router_route(&w->router, ev, f))
        return;
    if (e->nw > 1) {
        uint64_t owners = 0;
        for (uint32_t k = 0; k < f->nkeys; k++) {
            tl_fold_key *fk = &f->keys[k];
            if (fk->owner == w->id)
                continue;
            if (w->comb[fk->owner] && tl_combiner_add(w->comb[fk->owner], f, fk, reserve_out, &w->out_ctx[fk->owner]) == 0) {
                fk->owner = TL_OWNER_NONE; /* taken: no FOLD record, and not ours to fold */
                continue;
            }
            owners |= 1ull << fk->owner;
        }
        while (owners) {
            uint32_t o = (uint32_t)__builtin_ctzll(owners);
            owners &= owners - 1;
            size_t sz = tl_xfer_fold_size(f, o, w->prog->filter_words);
            tl_xfer_fold_encode(ring_reserve(w, o, sz), f, o, w->prog->filter_words);
        }
    }
    tl_shard_fold(w->shard, f, w->id);
}

/* Events the trace matcher synthesises (summaries, sequences, combinations) fold like any
 * other, but never go back into the matcher. */
static void fold_synthetic(void *ctx, const tl_event *ev)
{
    worker *w = ctx;
    tl_fold f;
    fold_routed(w, ev, &f);
}

/* Fold the event in w->ev (decoded from a message of partition p). */
static void fold_event(worker *w, part *p)
{
    w->events++;
    if (!p->has_data) {
        p->has_data = 1;
        p->first_ts = w->ev.ts_ms;
    }
    if (w->ev.ts_ms > p->max_ts)
        p->max_ts = w->ev.ts_ms;
    tl_fold f;
    fold_routed(w, &w->ev, &f); /* sets f.fbits even when no series is keyed */
    if (w->traces)
        tl_traces_observe(w->traces, &w->ev, f.fbits, fold_synthetic, w);
}

/* Events more than the lead ahead of the evaluation horizon wait in memory (and past a
 * budget their partition is paused). The horizon is the oldest watermark any owner has
 * evaluated at: no owner then has to close a slot that newer events already overwrote in its
 * ring, since the ring holds window + lateness + lead. Before any evaluation, a partition may
 * run `lead` past its own first event. */
static int64_t hold_limit(worker *w, const part *p, int64_t horizon)
{
    int64_t lead = tl_program_lead_ms(w->prog);
    if (horizon != INT64_MIN)
        return horizon + lead;
    return p->has_data ? p->first_ts + lead : INT64_MAX;
}

static int64_t eval_horizon(tl_engine *e)
{
    int64_t h = INT64_MAX;
    for (uint32_t i = 0; i < e->nw; i++) {
        int64_t v = atomic_load_explicit(&e->w[i].eval_wm, memory_order_acquire);
        if (v < h)
            h = v;
    }
    return h;
}

static void set_paused(worker *w, part *p, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(w->eng->rk, l) : rd_kafka_resume_partitions(w->eng->rk, l);
    if (err)
        tl_log(TL_LOG_WARN, "worker %u: %s %s[%d]: %s", w->id, pause ? "pausing" : "resuming", p->topic,
               (int)p->partition, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    p->paused = pause;
}

static void hold_push(worker *w, part *p, rd_kafka_message_t *m, int64_t ts)
{
    if (p->h_n == p->h_cap) {
        /* slow path: only while a partition runs ahead; bounded by what was prefetched */
        uint32_t nc = p->h_cap ? p->h_cap * 2 : 256;
        rd_kafka_message_t **nh = tl_malloc(nc * sizeof *nh);
        int64_t *nt = tl_malloc(nc * sizeof *nt);
        if (!nh || !nt) {
            tl_log(TL_LOG_ERROR, "worker %u: out of memory holding back a partition", w->id);
            abort();
        }
        for (uint32_t i = 0; i < p->h_n; i++) {
            nh[i] = p->hold[(p->h_head + i) % p->h_cap];
            nt[i] = p->hold_ts[(p->h_head + i) % p->h_cap];
        }
        tl_free(p->hold);
        tl_free(p->hold_ts);
        p->hold = nh;
        p->hold_ts = nt;
        p->h_head = 0;
        p->h_cap = nc;
    }
    uint32_t i = (p->h_head + p->h_n) % p->h_cap;
    p->hold[i] = m;
    p->hold_ts[i] = ts;
    p->h_n++;
    w->held++;
    w->holds++;
    w->held_bytes += m->len;
    if (!p->paused && w->held_bytes > HOLD_BUDGET_BYTES)
        set_paused(w, p, 1);
}

static void hold_pop(worker *w, part *p)
{
    w->held_bytes -= p->hold[p->h_head]->len;
    rd_kafka_message_destroy(p->hold[p->h_head]);
    p->h_head = (p->h_head + 1) % p->h_cap;
    p->h_n--;
    w->held--;
}

/* Release held messages that the watermark now allows, in order. */
static void release_held(worker *w, batch *b, int64_t wm)
{
    for (uint32_t pi = 0; pi < w->nparts; pi++) {
        part *p = &w->parts[pi];
        uint32_t hint = 0;
        while (p->h_n) {
            rd_kafka_message_t *m = p->hold[p->h_head];
            int64_t *ts = &p->hold_ts[p->h_head];
            int decoded = 0; /* w->ev holds this message's event */
            if (*ts == INT64_MIN) {
                if (decode_or_dead_letter(w, b, m) < 0) {
                    batch_record(b, pi, m->offset + 1, &hint);
                    hold_pop(w, p);
                    continue;
                }
                *ts = w->ev.ts_ms;
                decoded = 1;
            }
            if (*ts > hold_limit(w, p, wm))
                break;
            /* decoded on an earlier pass: w->ev now holds another message's event */
            if (decoded || decode_or_dead_letter(w, b, m) == 0)
                fold_event(w, p);
            batch_record(b, pi, m->offset + 1, &hint);
            hold_pop(w, p);
        }
        if (!p->h_n && p->paused)
            set_paused(w, p, 0);
    }
}

static void process_batch(worker *w, rd_kafka_message_t **msgs, ssize_t n, int64_t now)
{
    tl_engine *e = w->eng;
    batch *b = &w->batches[(w->b_head + w->b_count) % BATCH_FIFO];
    b->seq = w->seq + 1;
    b->n = 0;
    atomic_store(&b->dlq.outstanding, 0);
    /* The shard's own watermark (the lateness horizon) only moves in owner_duties, after the
     * rings were drained up to it: contributions still in flight from other workers must not
     * be judged against a watermark their owner has not caught up with. */
    int64_t wm = eval_horizon(e);
    if (w->held)
        release_held(w, b, wm);
    uint32_t hint = 0, batch_hint = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                uint32_t pi = part_index(w, m, hint);
                if (pi != UINT32_MAX)
                    w->parts[pi].eof = 1;
            } else {
                tl_log(TL_LOG_WARN, "worker %u: consume error: %s", w->id, rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        uint32_t pi = part_index(w, m, hint);
        if (pi == UINT32_MAX) {
            rd_kafka_message_destroy(m); /* from a partition no longer ours (after a rebalance) */
            continue;
        }
        hint = pi;
        part *p = &w->parts[pi];
        p->eof = 0;
        p->last_wall = now;
        w->messages++;
        if (p->h_n) {
            hold_push(w, p, m, INT64_MIN); /* keep the partition's order */
            continue;
        }
        if (decode_or_dead_letter(w, b, m) < 0) {
            batch_record(b, pi, m->offset + 1, &batch_hint);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (w->ev.ts_ms > hold_limit(w, p, wm)) {
            hold_push(w, p, m, w->ev.ts_ms);
            continue;
        }
        fold_event(w, p);
        batch_record(b, pi, m->offset + 1, &batch_hint);
        rd_kafka_message_destroy(m);
    }
    w->seq++;
    w->b_count++;
    push_out(w);
    for (uint32_t o = 0; o < e->nw; o++) {
        if (!w->out[o])
            continue;
        tl_xfer_mark_encode(ring_reserve(w, o, tl_xfer_mark_size()), w->seq);
        tl_ring_publish(w->out[o]);
    }
    if (n > 0)
        atomic_store_explicit(&w->last_msg_wall, now, memory_order_relaxed);
    publish_watermark(w, now);
    atomic_store_explicit(&w->s_messages, w->messages, memory_order_relaxed);
    atomic_store_explicit(&w->s_events, w->events, memory_order_relaxed);
    atomic_store_explicit(&w->s_malformed, w->malformed, memory_order_relaxed);
    atomic_store_explicit(&w->s_holds, w->holds, memory_order_relaxed);
    if (n > 0)
        w->consumes++;
    atomic_store_explicit(&w->s_consumes, w->consumes, memory_order_relaxed);
}

/* Every partition at its end, past the grace, so the watermark no longer waits for it. */
static int all_parts_eof(worker *w, int64_t now)
{
    for (uint32_t i = 0; i < w->nparts; i++)
        if (!w->parts[i].eof || w->parts[i].h_n || now - w->parts[i].last_wall < w->eng->cfg->eof_grace_ms)
            return 0;
    return 1;
}

static int rings_empty(worker *w)
{
    for (uint32_t s = 0; s < w->eng->nw; s++)
        if (w->in[s] && !tl_ring_empty(w->in[s]))
            return 0;
    return 1;
}

static void part_free(worker *w, part *p)
{
    while (p->h_n)
        hold_pop(w, p); /* never processed: their offsets were not stored, so they are re-read */
    tl_free(p->hold);
    tl_free(p->hold_ts);
    tl_free(p->topic);
}

static void adopt_parts(worker *w)
{
    for (uint32_t i = 0; i < w->nparts; i++)
        part_free(w, &w->parts[i]);
    tl_free(w->parts);
    w->parts = w->pending_parts;
    w->nparts = w->npending;
    w->pending_parts = NULL;
    w->npending = 0;
    /* Batches still queued (a revoke that timed out waiting for them) refer to the old
     * partition indices: forget their offsets (the new owner re-reads them, which is the
     * at-least-once answer) but keep the slots until their dead-letter acks return. */
    for (uint32_t i = 0; i < w->b_count; i++)
        w->batches[(w->b_head + i) % BATCH_FIFO].n = 0;
    publish_watermark(w, wall_ms());
}

/* Reload (while held, rings drained): carry the shard's state over to the new rules. Open
 * traces are not carried over (a trace open across a reload is summarised in pieces). */
static void swap_rules(worker *w)
{
    tl_engine *e = w->eng;
    const tl_program *np = w->new_prog;
    tl_shard_opts so = {.max_series = e->cfg->max_series,
                        .max_series_total = e->cfg->max_series_total,
                        .sketch_max_bytes = e->cfg->sketch_max_bytes,
                        .sink = sink,
                        .sink_ctx = w,
                        .nowners = e->nw,
                        .resend_resolved_ms = e->cfg->resend_resolved_ms,
                        .resend_interval_ms = e->cfg->resend_interval_ms};
    tl_fold_key *keys = tl_calloc(np->ngroups ? np->ngroups : 1, sizeof *keys);
    tl_router router;
    tl_traces *traces = np->traces ? tl_traces_new(np, 100000) : NULL;
    if (!keys || (np->traces && !traces) || tl_router_init(&router, np, e->nw) < 0) {
        tl_free(keys);
        tl_traces_destroy(traces);
        w->swap_failed = 1;
        return;
    }
    tl_combiner *comb[MAX_WORKERS] = {0};
    int comb_ok = 1;
    for (uint32_t o = 0; o < e->nw; o++)
        if (w->out[o] && !(comb[o] = tl_combiner_new(np, 0)))
            comb_ok = 0;
    tl_shard *ns = comb_ok ? tl_shard_migrate(w->shard, np, &so) : NULL;
    if (!ns) {
        tl_free(keys);
        tl_traces_destroy(traces);
        tl_router_fini(&router);
        for (uint32_t o = 0; o < e->nw; o++)
            tl_combiner_destroy(comb[o]);
        w->swap_failed = 1;
        return;
    }
    /* The old combiners are empty: owner_duties ended with push_out and a held worker folds
     * nothing since. (Sending their records now could reach an owner that already runs the
     * new rules, whose plan ids differ.) */
    for (uint32_t o = 0; o < e->nw; o++) {
        tl_combiner_destroy(w->comb[o]);
        w->comb[o] = comb[o];
    }
    w->shard = ns;
    tl_router_fini(&w->router);
    w->router = router;
    tl_free(w->keys);
    w->keys = keys;
    tl_traces_destroy(w->traces);
    w->traces = traces;
    w->prog = np;
    w->swap_failed = 0;
}

static int all_stopped(tl_engine *e)
{
    for (uint32_t i = 0; i < e->nw; i++)
        if (!atomic_load(&e->w[i].stopped_consuming))
            return 0;
    return 1;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    tl_engine *e = w->eng;
    rd_kafka_message_t **msgs = tl_malloc(BATCH_MAX * sizeof *msgs);
    int64_t deadline = 0;
    for (;;) {
        int64_t now = wall_ms();
        int hold = atomic_load(&e->hold), stopping = atomic_load(&e->stopping);
        if (hold) {
            if (atomic_load(&w->parts_update)) {
                adopt_parts(w);
                atomic_store(&w->parts_update, 0);
            }
            if (atomic_load(&w->swap)) {
                swap_rules(w);
                atomic_store(&w->swap, 0);
            }
            atomic_store(&w->ack_gen, atomic_load(&e->hold_gen));
            if (atomic_load(&e->park)) { /* a checkpoint reads this worker's state now */
                sleep_ms(1);
                continue;
            }
        }
        if (stopping && !atomic_load(&w->stopped_consuming)) {
            atomic_store(&w->stopped_consuming, 1);
            deadline = now + e->cfg->shutdown_timeout_ms; /* then what is undelivered stays uncommitted */
        }
        if (!hold && !stopping && w->nparts && w->b_count < BATCH_FIFO && msgs) {
            ssize_t n = rd_kafka_consume_batch_queue(w->q, w->held ? 1 : 10, msgs, BATCH_MAX);
            now = wall_ms();
            if (n > 0 || w->held)
                process_batch(w, msgs, n > 0 ? n : 0, now);
            else {
                push_out(w); /* contributions first, then the watermark they lead to */
                publish_watermark(w, now); /* idle partitions stop holding the watermark back */
            }
        } else {
            sleep_ms(1);
        }
        owner_duties(w, now);
        int q = all_parts_eof(w, now) && w->b_count == 0 && w->p_count <= 1 && rings_empty(w) &&
                (w->p_count == 0 || atomic_load(&w->passes[w->p_head].ack.outstanding) == 0);
        atomic_store(&w->quiescent, q);
        if (stopping && all_stopped(e) && rings_empty(w)) {
            int done = w->b_count == 0 && (w->p_count == 0 || atomic_load(&w->passes[w->p_head].ack.outstanding) == 0);
            if (done || now > deadline) {
                if (!done)
                    tl_log(TL_LOG_WARN, "worker %u: stopping with %u batches whose offsets are not safe yet", w->id,
                           w->b_count);
                owner_duties(w, now);
                store_offsets(w, now, 1);
                break;
            }
        }
    }
    tl_free(msgs);
    atomic_store(&w->finished, 1);
    return NULL;
}

/* ---- rebalancing (main thread) -------------------------------------------------------------- */

static void hold_workers(tl_engine *e)
{
    int gen = atomic_fetch_add(&e->hold_gen, 1) + 1;
    atomic_store(&e->hold, 1);
    for (uint32_t i = 0; i < e->nw; i++)
        while (atomic_load(&e->w[i].ack_gen) != gen && !atomic_load(&e->w[i].finished)) {
            tl_output_poll(e->out, 1);
        }
}

static const tl_ckpt_offset *ck_entry(const tl_engine *e, const char *topic, int32_t partition);

static void post_parts(tl_engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    uint32_t *count = tl_calloc(e->nw, sizeof *count);
    for (uint32_t i = 0; i < e->nw; i++) {
        e->w[i].pending_parts = tl_calloc(parts && parts->cnt ? (size_t)parts->cnt : 1, sizeof(part));
        e->w[i].npending = 0;
    }
    uint32_t rr = 0;
    for (int i = 0; parts && i < parts->cnt; i++) {
        /* a partition in the checkpoint goes back to the worker that read it (modulo the
         * worker count): that worker's restored trace table holds its open traces */
        const tl_ckpt_offset *ck = ck_entry(e, parts->elems[i].topic, parts->elems[i].partition);
        worker *w = &e->w[ck ? ck->worker % e->nw : rr++ % e->nw];
        if (w->npending >= MAX_PARTS) {
            tl_log(TL_LOG_ERROR, "more than %d partitions per worker; raise --threads", MAX_PARTS);
            continue;
        }
        part *p = &w->pending_parts[w->npending++];
        p->topic = tl_strdup(parts->elems[i].topic);
        p->partition = parts->elems[i].partition;
        p->max_ts = INT64_MIN;
        p->first_ts = INT64_MIN;
        p->assigned_wall = wall_ms();
        p->ready = p->stored = -1;
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(e->rk, p->topic, p->partition);
        if (pq) {
            rd_kafka_queue_forward(pq, w->q);
            rd_kafka_queue_destroy(pq);
        }
    }
    tl_free(count);
    for (uint32_t i = 0; i < e->nw; i++)
        atomic_store(&e->w[i].parts_update, 1);
    /* the workers adopt the new tables at their next hold acknowledgement */
    hold_workers(e);
}

static void wait_batches_done(tl_engine *e, int timeout_ms)
{
    int64_t end = wall_ms() + timeout_ms;
    for (;;) {
        int pending = 0;
        for (uint32_t i = 0; i < e->nw; i++)
            pending += (int)atomic_load(&e->w[i].s_batches);
        if (!pending || wall_ms() > end)
            break;
        tl_output_poll(e->out, 5);
    }
}

/* ---- checkpoints (main thread) -------------------------------------------------------------- */

static int all_rings_empty(tl_engine *e)
{
    for (uint32_t i = 0; i < e->nw; i++)
        if (!rings_empty(&e->w[i]))
            return 0;
    return 1;
}

static const tl_ckpt_offset *find_offset(const tl_ckpt_offset *o, size_t n, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].partition == partition && strcmp(o[i].topic, topic) == 0)
            return &o[i];
    return NULL;
}

static const tl_ckpt_offset *ck_entry(const tl_engine *e, const char *topic, int32_t partition)
{
    return find_offset(e->ck_offs, e->ck_noffs, topic, partition);
}

static int all_combiners_empty(tl_engine *e)
{
    for (uint32_t i = 0; i < e->nw; i++)
        for (uint32_t o = 0; o < e->nw; o++)
            if (e->w[i].comb[o] && tl_combiner_pending(e->w[i].comb[o]))
                return 0;
    return 1;
}

static int64_t ck_offset(const tl_engine *e, const char *topic, int32_t partition)
{
    const tl_ckpt_offset *c = ck_entry(e, topic, partition);
    return c ? c->offset : -1;
}

static void free_offsets(tl_ckpt_offset *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tl_free(o[i].topic);
    tl_free(o);
}

/* Append an entry (topic copied) at o[*k]; 1 on out of memory (nothing appended). */
static int add_offset(tl_ckpt_offset *o, size_t *k, const char *topic, int32_t partition, int64_t offset,
                      uint32_t reader)
{
    char *t = tl_strdup(topic);
    if (!t)
        return 1;
    o[(*k)++] = (tl_ckpt_offset){.topic = t, .partition = partition, .offset = offset, .worker = reader};
    return 0;
}

/* Offsets the state now reflects: each assigned partition's next unprocessed offset, and the
 * previous checkpoint's for partitions not assigned now (their state is still in the shards). */
static tl_ckpt_offset *collect_offsets(tl_engine *e, size_t *n)
{
    size_t cap = e->ck_noffs;
    for (uint32_t i = 0; i < e->nw; i++)
        cap += e->w[i].nparts;
    tl_ckpt_offset *o = tl_calloc(cap ? cap : 1, sizeof *o);
    if (!o)
        return NULL;
    size_t k = 0;
    int oom = 0;
    for (uint32_t i = 0; i < e->nw; i++)
        for (uint32_t j = 0; j < e->w[i].nparts; j++) {
            const part *p = &e->w[i].parts[j];
            int64_t off = p->ready >= 0 ? p->ready : ck_offset(e, p->topic, p->partition);
            if (off >= 0) /* else nothing read from it yet, nor before */
                oom |= add_offset(o, &k, p->topic, p->partition, off, i);
        }
    for (size_t i = 0; i < e->ck_noffs; i++) {
        const tl_ckpt_offset *c = &e->ck_offs[i];
        if (!find_offset(o, k, c->topic, c->partition))
            oom |= add_offset(o, &k, c->topic, c->partition, c->offset, c->worker);
    }
    if (oom) {
        free_offsets(o, k);
        return NULL;
    }
    *n = k;
    return o;
}

/* Hand the checkpoint's offsets of assigned partitions to the consumer (auto-commit commits
 * them); `sync` commits now. */
static void store_checkpoint_offsets(tl_engine *e, int sync)
{
    if (!e->ck_noffs)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)e->ck_noffs);
    for (uint32_t i = 0; i < e->nw; i++)
        for (uint32_t j = 0; j < e->w[i].nparts; j++) {
            const part *p = &e->w[i].parts[j];
            int64_t off = ck_offset(e, p->topic, p->partition);
            if (off >= 0)
                rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = off;
        }
    if (l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(e->rk, l);
        if (err)
            tl_log(TL_LOG_WARN, "storing checkpointed offsets: %s", rd_kafka_err2str(err));
        else if (sync && (err = rd_kafka_commit(e->rk, l, 0)))
            tl_log(TL_LOG_WARN, "committing checkpointed offsets: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void checkpoint_failed(tl_engine *e, const char *why)
{
    atomic_fetch_add(&e->checkpoint_failures, 1);
    if (!atomic_exchange(&e->degraded, 1))
        tl_log(TL_LOG_ERROR, "degraded: %s; the previous checkpoint stays and input offsets are not committed "
                             "past it; retrying", why);
    else
        tl_log(TL_LOG_WARN, "checkpoint still failing: %s", why);
}

/* The checkpoint's engine section: the alerts about tripline itself (selfalert.h). */
static void section_save(void *ctx, struct tl_ckw *w)
{
    tl_selfalert_save(ctx, tl_self_clock_ms(CLOCK_MONOTONIC), tl_self_clock_ms(CLOCK_REALTIME), w);
}

static void section_load(void *ctx, struct tl_ckr *r)
{
    tl_selfalert_load(ctx, tl_self_clock_ms(CLOCK_MONOTONIC), tl_self_clock_ms(CLOCK_REALTIME), r);
}

/* Write the state and the offsets it reflects. Unless `stopped` (the workers have exited), the
 * workers are held until every batch is done (folded, evaluated, alerts and dead letters
 * acknowledged) and the rings are empty, then parked, and the alerts of evaluations since are
 * awaited: a checkpoint never holds a transition that was not delivered. The workers are
 * released again before returning unless `keep_hold`. 0, or -1 when it failed or was deferred
 * (the broker does not acknowledge): the previous checkpoint stays in force. */
static int take_checkpoint(tl_engine *e, int stopped, int keep_hold)
{
    int64_t t0 = wall_ms(), end = t0 + 5000;
    const char *deferred = NULL;
    if (!stopped) {
        hold_workers(e);
        for (;;) {
            uint32_t pending = 0;
            for (uint32_t i = 0; i < e->nw; i++)
                pending += atomic_load(&e->w[i].s_batches);
            if (!pending && all_rings_empty(e))
                break;
            if (wall_ms() > end) {
                deferred = "batches not acknowledged within 5 s";
                break;
            }
            tl_output_poll(e->out, 2);
        }
        while (!deferred) {
            hold_workers(e); /* one more owner round: ready offsets are up to date */
            atomic_store(&e->park, 1);
            hold_workers(e);
            /* Parked, nothing moves. An owner round may have ended by pushing contributions
             * (trace summaries of expired traces) that their owner had not drained when it
             * parked: then let the owners run one more round and park again. */
            if (all_rings_empty(e) && all_combiners_empty(e))
                break;
            atomic_store(&e->park, 0);
            if (wall_ms() > end)
                deferred = "worker rings not drained within 5 s";
        }
        if (!deferred) {
            while (tl_output_pending(e->out) && wall_ms() <= end)
                tl_output_poll(e->out, 2);
            if (tl_output_pending(e->out))
                deferred = "alerts not acknowledged within 5 s";
        }
    } else if (tl_output_pending(e->out)) {
        deferred = "alerts not acknowledged at shutdown";
    }
    int rc = -1;
    if (deferred) {
        checkpoint_failed(e, deferred);
    } else {
        size_t n = 0;
        tl_ckpt_offset *offs = collect_offsets(e, &n);
        tl_shard *shards[MAX_WORKERS];
        tl_traces *traces[MAX_WORKERS];
        int64_t wm = atomic_load(&e->wm);
        for (uint32_t i = 0; i < e->nw; i++) {
            shards[i] = e->w[i].shard;
            traces[i] = e->w[i].traces;
            int64_t ev = atomic_load(&e->w[i].eval_wm);
            if (ev != INT64_MIN && ev < wm)
                wm = ev; /* the watermark the state was evaluated at */
        }
        char err[512];
        uint64_t bytes = 0;
        if (!offs) {
            checkpoint_failed(e, "out of memory");
        } else if (tl_checkpoint_write(e->cfg->state_dir, e->prog, shards, traces,
                                       e->section.ctx ? &e->section : NULL, e->nw,
                                       wm, offs, n, &bytes, err, sizeof err) != 0) {
            checkpoint_failed(e, err);
            free_offsets(offs, n);
        } else {
            free_offsets(e->ck_offs, e->ck_noffs);
            e->ck_offs = offs;
            e->ck_noffs = n;
            atomic_fetch_add(&e->checkpoints, 1);
            atomic_store(&e->checkpoint_bytes, bytes);
            rc = 0;
            char path[4096];
            tl_checkpoint_path(e->cfg->state_dir, path, sizeof path);
            /* the local file is durable: its offsets may be committed whatever happens to the
             * copy (a replacement machine would restore an older copy with its older offsets) */
            if (e->store && tl_ckstore_put(e->store, path, 10000, err, sizeof err) < 0)
                checkpoint_failed(e, err);
            else if (atomic_exchange(&e->degraded, 0))
                tl_log(TL_LOG_INFO, "checkpoints work again: no longer degraded");
        }
    }
    atomic_store(&e->checkpoint_ms, wall_ms() - t0);
    if (!stopped) {
        atomic_store(&e->park, 0);
        if (!keep_hold)
            atomic_store(&e->hold, 0);
    }
    if (rc == 0)
        store_checkpoint_offsets(e, stopped);
    return rc;
}

/* Load the checkpoint into the workers' fresh shards (before they start). -1 with err when it
 * cannot be used and the operator did not ask to start fresh. */
static int restore_checkpoint(tl_engine *e, char *err, size_t errcap)
{
    const tl_config *cfg = e->cfg;
    if (tl_checkpoint_prepare_dir(cfg->state_dir, err, errcap) < 0)
        return -1;
    if (cfg->state_kafka) {
        if (!(e->store = tl_ckstore_new(cfg, err, errcap)))
            return -1;
        char path[4096];
        struct stat st;
        tl_checkpoint_path(cfg->state_dir, path, sizeof path);
        /* a new or replacement machine takes the copy in Kafka; so does a standby taking over
         * (lease.h): its own file is from its last tenure, and the active one since wrote newer */
        int local = stat(path, &st) == 0;
        if (!local || cfg->standby) {
            char why[512];
            int frc = tl_ckstore_fetch(e->store, cfg, 30000, why, sizeof why);
            if (frc == 0)
                tl_log(TL_LOG_INFO, "%s: fetched the copy in topic %s",
                       local ? "taking over" : "no local checkpoint", cfg->state_topic);
            else if (frc == 1 && local)
                tl_log(TL_LOG_INFO, "no checkpoint in topic %s: using the one in %s", cfg->state_topic, cfg->state_dir);
            else if (frc == 1)
                tl_log(TL_LOG_INFO, "no checkpoint in %s nor in topic %s", cfg->state_dir, cfg->state_topic);
            else if (!cfg->fresh_state) {
                snprintf(err, errcap, "%s (refusing to start; --fresh-state or state.on_unreadable: fresh starts empty)",
                         why);
                return -1;
            } else {
                tl_log(TL_LOG_WARN, "%s; starting fresh as configured", why);
            }
        }
    }
    tl_shard *shards[MAX_WORKERS];
    tl_traces *traces[MAX_WORKERS];
    for (uint32_t i = 0; i < e->nw; i++) {
        shards[i] = e->w[i].shard;
        traces[i] = e->w[i].traces;
    }
    tl_ckpt_info info;
    char why[512];
    int rc = tl_checkpoint_load(cfg->state_dir, e->prog, shards, traces, e->section.ctx ? &e->section : NULL, e->nw,
                                &info, why, sizeof why);
    if (rc == 1) {
        tl_log(TL_LOG_INFO, "no checkpoint in %s: starting with empty state", cfg->state_dir);
        return 0;
    }
    if (rc < 0) {
        if (!cfg->fresh_state) {
            snprintf(err, errcap, "%s (refusing to start; --fresh-state or state.on_unreadable: fresh discards it)",
                     why);
            return -1;
        }
        char aside[512];
        if (tl_checkpoint_set_aside(cfg->state_dir, aside, sizeof aside) < 0) {
            snprintf(err, errcap, "%s; and %s", why, aside);
            return -1;
        }
        tl_log(TL_LOG_WARN, "%s; starting fresh as configured (the file was moved aside)", why);
        tl_shard_opts so;
        for (uint32_t i = 0; i < e->nw; i++) { /* the load may have filled part of them */
            so = tl_shard_get_opts(e->w[i].shard);
            tl_shard_destroy(e->w[i].shard);
            if (!(e->w[i].shard = tl_shard_new(e->prog, &so))) {
                snprintf(err, errcap, "out of memory");
                return -1;
            }
            if (e->w[i].traces) {
                tl_traces_destroy(e->w[i].traces);
                if (!(e->w[i].traces = tl_traces_new(e->prog, 100000))) {
                    snprintf(err, errcap, "out of memory");
                    return -1;
                }
            }
        }
        return 0;
    }
    e->ck_offs = info.offs;
    e->ck_noffs = info.noffs;
    info.offs = NULL;
    info.noffs = 0;
    if (info.watermark != INT64_MIN)
        atomic_store(&e->wm, info.watermark);
    uint64_t series = 0;
    for (uint32_t i = 0; i < e->nw; i++) {
        tl_shard_stats ss;
        tl_shard_stats_get(e->w[i].shard, &ss);
        series += ss.series;
    }
    char wm[40] = "none", at[40] = "?";
    if (info.watermark != INT64_MIN)
        tl_time_format_rfc3339(info.watermark, wm, sizeof wm);
    tl_time_format_rfc3339(info.written_ms, at, sizeof at);
    tl_log(TL_LOG_INFO, "restored checkpoint written %s: %llu series, %zu partition offsets, watermark %s%s", at,
           (unsigned long long)series, e->ck_noffs, wm,
           info.dropped ? " (some series or sketches did not fit this run's limits)" : "");
    tl_ckpt_info_fini(&info);
    return 0;
}

/* ---- reload (main thread) ------------------------------------------------------------------- */

void tl_engine_request_reload(tl_engine *e) { atomic_store(&e->reload, 1); }

/* --watch: a fingerprint of the rule files' names, sizes and modification times. */
static uint64_t rules_signature(const tl_config *cfg)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        struct stat st;
        if (stat(cfg->rules[i], &st) < 0)
            continue;
        if (!S_ISDIR(st.st_mode)) {
            h = (h ^ (uint64_t)st.st_mtim.tv_sec ^ (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_size) * 1099511628211ull;
            continue;
        }
        DIR *d = opendir(cfg->rules[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", cfg->rules[i], de->d_name);
            if (de->d_name[0] != '.' && stat(path, &st) == 0)
                h = (h ^ (uint64_t)st.st_mtim.tv_sec ^ (uint64_t)st.st_mtim.tv_nsec ^ (uint64_t)st.st_size ^
                     (uint64_t)strlen(de->d_name)) * 1099511628211ull;
        }
        if (d)
            closedir(d);
    }
    return h;
}

static void do_reload(tl_engine *e)
{
    const tl_config *cfg = e->cfg;
    tl_rules_opts ro = {.lateness_ms = cfg->lateness_ms,
                        .lead_ms = cfg->max_lead_ms,
                        .renotify_ms = cfg->renotify_ms,
                        .check_runbooks = 1};
    char ebuf[8192] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *np = tl_rules_load((const char *const *)cfg->rules, cfg->n_rules, &ro, &errs);
    if (!np || !np->nrules || e->nowned >= 64) {
        e->reload_failures++;
        for (char *line = strtok(ebuf, "\n"); line; line = strtok(NULL, "\n"))
            tl_log(TL_LOG_ERROR, "reload: %s", line);
        tl_log(TL_LOG_ERROR, "reload failed (%s); the running rules stay in effect",
               !np ? "invalid rules" : !np->nrules ? "no rules" : "too many reloads in one run");
        tl_program_destroy(np);
        return;
    }
    hold_workers(e);
    /* rings carry filter bits and group ids of the running program: drain them first (held
     * workers keep draining, and consume nothing new) */
    int64_t end = wall_ms() + 10000;
    for (;;) {
        int empty = 1;
        for (uint32_t i = 0; i < e->nw && empty; i++)
            empty = rings_empty(&e->w[i]);
        if (empty || wall_ms() > end)
            break;
        tl_output_poll(e->out, 1);
    }
    for (uint32_t i = 0; i < e->nw; i++) {
        e->w[i].new_prog = np;
        atomic_store(&e->w[i].swap, 1);
    }
    hold_workers(e); /* the workers swap at their acknowledgement */
    int failed = 0;
    for (uint32_t i = 0; i < e->nw; i++)
        failed |= e->w[i].swap_failed || e->w[i].prog != np;
    if (failed) {
        /* out of memory in a worker: the workers that swapped run the new rules; report it */
        tl_log(TL_LOG_ERROR, "reload: a worker could not take the new rules (out of memory)");
        e->reload_failures++;
    }
    e->owned[e->nowned++] = np; /* older programs stay allocated: alerts in flight name them */
    e->prog = np;
    e->reloads++;
    atomic_store(&e->hold, 0);
    tl_log(TL_LOG_INFO, "reloaded rules: %u rules; unchanged rules kept their windows and state", np->nrules);
}

/* Input deleted before it was read: retention ran ahead of a stopped (or long lagging) engine,
 * so the offset a partition resumes at (the checkpoint's, else the group's committed one) is
 * below the oldest retained. librdkafka would silently reset to the earliest retained offset
 * (auto.offset.reset); instead the gap is counted (input_gaps, input_gap_messages), logged as
 * an error with its extent, and raised as TriplineInputGap (selfalert.h), and the partition
 * starts explicitly at the oldest retained offset. Alerts for the deleted span may be missing,
 * and windows restored from the checkpoint lack it. At assignment only (network calls on the
 * main thread); a gap while running (the consumer lagging behind retention) is reset by
 * librdkafka and logged by it ("OFFSET: offset reset"), not counted here. */
static void check_input_gaps(tl_engine *e, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    if (rd_kafka_committed(rk, committed, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(committed);
        committed = NULL;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t off = tp->offset >= 0 ? tp->offset : committed ? committed->elems[i].offset : -1;
        if (off < 0)
            continue; /* nothing read from it yet: auto.offset.reset decides */
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t qe = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi, 5000);
        if (qe) {
            tl_log(TL_LOG_WARN, "%s [%d]: cannot check for an input gap: %s", tp->topic, (int)tp->partition,
                   rd_kafka_err2str(qe));
            continue;
        }
        if (off >= lo)
            continue;
        atomic_fetch_add(&e->input_gaps, 1);
        atomic_fetch_add(&e->input_gap_messages, (uint64_t)(lo - off));
        tl_log(TL_LOG_ERROR,
               "input gap: %s [%d] resumes at offset %lld (%s) but the oldest retained is %lld: %lld messages were "
               "deleted before they were read; alerts for them may be missing. Reading on from %lld",
               tp->topic, (int)tp->partition, (long long)off, tp->offset >= 0 ? "checkpoint" : "committed",
               (long long)lo, (long long)(lo - off), (long long)lo);
        tp->offset = lo;
    }
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
}

/* Another instance in the group: series span partitions, so an instance with part of a topic's
 * partitions sees part of every series (rates of part of the traffic, alerts split or
 * missed). That is a deployment mistake (ha.mode: standby is the way to run several), so it is
 * reported as an error at every such assignment and counted (split_assignments); the engine
 * goes on with what it was given. */
static void check_whole_topics(tl_engine *e, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts)
{
    for (size_t t = 0; t < e->cfg->n_inputs; t++) {
        const char *topic = e->cfg->inputs[t];
        int have = 0;
        for (int i = 0; i < parts->cnt; i++)
            have += strcmp(parts->elems[i].topic, topic) == 0;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 ||
            md->topics[0].err) {
            tl_log(TL_LOG_WARN, "%s: cannot read its partition count to check the assignment", topic);
        } else if (have < md->topics[0].partition_cnt) {
            atomic_fetch_add(&e->split_assignments, 1);
            tl_log(TL_LOG_ERROR,
                   "assigned %d of the %d partitions of %s: another instance consumes in group %s, and each sees "
                   "part of every series (rates of part of the traffic, alerts split or missed). Run one instance "
                   "per group, or several with ha.mode: standby",
                   have, md->topics[0].partition_cnt, topic, e->cfg->group);
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tl_engine *e = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        tl_log(TL_LOG_INFO, "assigned %d partitions", parts->cnt);
        int resumed = 0;
        for (int i = 0; i < parts->cnt; i++) { /* resume where the restored state ends */
            int64_t off = ck_offset(e, parts->elems[i].topic, parts->elems[i].partition);
            if (off >= 0) {
                parts->elems[i].offset = off;
                resumed++;
            }
        }
        if (resumed)
            tl_log(TL_LOG_INFO, "%d partitions resume at their checkpointed offsets", resumed);
        check_input_gaps(e, rk, parts);
        check_whole_topics(e, rk, parts);
        hold_workers(e);
        post_parts(e, parts);
        rd_kafka_assign(rk, parts);
        atomic_store(&e->assigned, parts->cnt);
        atomic_store(&e->hold, 0);
        return;
    }
    tl_log(TL_LOG_INFO, "revoking %d partitions: draining and committing", parts ? parts->cnt : 0);
    hold_workers(e);
    if (e->cfg->state_dir) {
        /* the state of what was read goes into a checkpoint first (unless the workers are gone:
         * the final one was written); only its offsets are committed */
        if (!e->stopped)
            take_checkpoint(e, 0, 1);
        store_checkpoint_offsets(e, 1);
    } else {
        /* a stopped engine's workers already waited shutdown_timeout for their deliveries:
         * what is still undelivered stays uncommitted without a second wait */
        wait_batches_done(e, e->stopped ? 0 : 10000);
        hold_workers(e); /* one more round so the final offsets are stored */
        rd_kafka_commit(rk, NULL, 0);
    }
    for (int i = 0; parts && i < parts->cnt; i++) {
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(rk, parts->elems[i].topic, parts->elems[i].partition);
        if (pq) {
            rd_kafka_queue_forward(pq, NULL);
            rd_kafka_queue_destroy(pq);
        }
    }
    rd_kafka_assign(rk, NULL);
    post_parts(e, NULL);
    atomic_store(&e->assigned, 0);
    atomic_store(&e->hold, 0);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static int worker_init(tl_engine *e, worker *w, uint32_t id)
{
    w->eng = e;
    w->prog = e->prog;
    w->id = id;
    w->q = rd_kafka_queue_new(e->rk);
    tl_shard_opts so = {.max_series = e->cfg->max_series,
                        .max_series_total = e->cfg->max_series_total,
                        .sketch_max_bytes = e->cfg->sketch_max_bytes,
                        .sink = sink,
                        .sink_ctx = w,
                        .nowners = e->nw,
                        .resend_resolved_ms = e->cfg->resend_resolved_ms,
                        .resend_interval_ms = e->cfg->resend_interval_ms};
    w->shard = tl_shard_new(e->prog, &so);
    if (e->prog->traces && !(w->traces = tl_traces_new(e->prog, 100000)))
        return -1;
    w->scratch.cap = e->cfg->max_message_bytes ? e->cfg->max_message_bytes : (1u << 20);
    w->scratch.buf = tl_malloc(w->scratch.cap);
    w->keys = tl_calloc(e->prog->ngroups ? e->prog->ngroups : 1, sizeof *w->keys);
    w->batches = tl_calloc(BATCH_FIFO, sizeof *w->batches);
    w->passes = tl_calloc(PASS_FIFO, sizeof *w->passes);
    atomic_store(&w->low_wm, INT64_MAX);
    atomic_store(&w->eval_wm, INT64_MIN);
    atomic_store(&w->max_ts, INT64_MIN);
    atomic_store(&w->last_msg_wall, INT64_MIN);
    if (!w->q || !w->shard || !w->scratch.buf || !w->keys || !w->batches || !w->passes ||
        tl_router_init(&w->router, e->prog, e->nw) < 0)
        return -1;
    return 0;
}

const tl_kv *tl_engine_consumer_defaults(size_t *n)
{
    static const tl_kv defaults[] = {
        {"enable.auto.offset.store", "false"}, /* at-least-once: we store offsets ourselves */
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "true"},      /* idle partitions and --exit-at-end */
        {"queued.min.messages", "200000"},     /* avoids the 2.0.2 fetch stalls (KNOWLEDGE.md) */
        {"fetch.wait.max.ms", "50"},
        {"partition.assignment.strategy", "range,roundrobin"},
    };
    *n = sizeof defaults / sizeof defaults[0];
    return defaults;
}

tl_engine *tl_engine_new(const tl_config *cfg, const tl_program *prog, char *err, size_t errcap)
{
    tl_engine *e = tl_calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->prog = prog;
    e->nw = (uint32_t)(cfg->threads > 0 ? cfg->threads : 1);
    if (e->nw > MAX_WORKERS)
        e->nw = MAX_WORKERS;
    atomic_store(&e->wm, INT64_MIN);
    atomic_store(&e->exit_at_end, cfg->exit_at_end);
    err[0] = '\0';
    e->dec = tl_decoder_new(cfg, err, errcap);
    if (!e->dec)
        goto fail;
    e->out = tl_output_new(cfg, err, errcap);
    if (!e->out)
        goto fail;
    e->hb = tl_heartbeat_new(cfg, e->out);
    e->sa = tl_selfalert_new(cfg, e->out);
    e->section = (tl_ckpt_section){section_save, section_load, e->sa};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, kerr, sizeof kerr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", cfg->group, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
        snprintf(err, errcap, "consumer config: %s", kerr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    size_t ndefaults;
    const tl_kv *defaults = tl_engine_consumer_defaults(&ndefaults);
    if (tl_kafka_conf_set(conf, defaults, ndefaults, err, errcap) < 0 ||
        tl_kafka_conf_set(conf, cfg->kafka, cfg->n_kafka, err, errcap) < 0 ||
        tl_kafka_conf_set(conf, cfg->consumer, cfg->n_consumer, err, errcap) < 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, e);
    e->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!e->rk) {
        snprintf(err, errcap, "cannot create consumer: %s", kerr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_poll_set_consumer(e->rk);
    e->w = tl_calloc(e->nw, sizeof *e->w);
    if (!e->w)
        goto oom;
    for (uint32_t i = 0; i < e->nw; i++)
        if (worker_init(e, &e->w[i], i) < 0)
            goto oom;
    for (uint32_t s = 0; s < e->nw && e->nw > 1; s++) {
        for (uint32_t o = 0; o < e->nw; o++) {
            if (s == o)
                continue;
            tl_ring *r = tl_ring_new(RING_BYTES);
            if (!r)
                goto oom;
            e->w[s].out[o] = r;
            e->w[o].in[s] = r;
            e->w[s].out_ctx[o] = (struct out_ctx){&e->w[s], o};
            if (!(e->w[s].comb[o] = tl_combiner_new(e->prog, 0)))
                goto oom;
        }
    }
    if (cfg->state_dir && restore_checkpoint(e, err, errcap) < 0)
        goto fail;
    e->next_ckpt = wall_ms() + cfg->checkpoint_interval_ms;
    return e;
oom:
    snprintf(err, errcap, "out of memory");
fail:
    tl_engine_destroy(e);
    return NULL;
}

void tl_engine_on_alert(tl_engine *e, tl_engine_alert_fn fn, void *ctx)
{
    e->on_alert = fn;
    e->on_alert_ctx = ctx;
}

void tl_engine_on_tick(tl_engine *e, tl_engine_tick_fn fn, void *ctx)
{
    e->on_tick = fn;
    e->on_tick_ctx = ctx;
}

void tl_engine_stop(tl_engine *e) { atomic_store(&e->stop, 1); }

void tl_engine_exit_at_end(tl_engine *e) { atomic_store(&e->exit_at_end, 1); }

void tl_engine_stats_get(tl_engine *e, tl_engine_stats *s)
{
    memset(s, 0, sizeof *s);
    for (uint32_t i = 0; i < e->nw; i++) {
        worker *w = &e->w[i];
        s->messages += atomic_load_explicit(&w->s_messages, memory_order_relaxed);
        s->events += atomic_load_explicit(&w->s_events, memory_order_relaxed);
        s->malformed += atomic_load_explicit(&w->s_malformed, memory_order_relaxed);
        s->holds += atomic_load_explicit(&w->s_holds, memory_order_relaxed);
        s->consumes += atomic_load_explicit(&w->s_consumes, memory_order_relaxed);
        s->ring_waits += atomic_load_explicit(&w->s_ring_waits, memory_order_relaxed);
        s->late += atomic_load_explicit(&w->s_late, memory_order_relaxed);
        s->series += atomic_load_explicit(&w->s_series, memory_order_relaxed);
        s->overflowed += atomic_load_explicit(&w->s_overflowed, memory_order_relaxed);
        s->capped += atomic_load_explicit(&w->s_capped, memory_order_relaxed);
    }
    tl_decoder_stats ds;
    tl_decoder_stats_get(e->dec, &ds);
    s->future_clamped = ds.future_clamped;
    s->future_rejected = ds.future_rejected;
    tl_output_stats os;
    tl_output_stats_get(e->out, &os);
    s->alerts = os.alerts;
    s->alerts_acked = os.alerts_acked;
    s->dlq_acked = os.dlq_acked;
    s->delivery_retries = os.failed_attempts;
    s->watermark = atomic_load(&e->wm);
    s->reloads = e->reloads;
    s->reload_failures = e->reload_failures;
    s->checkpoints = atomic_load(&e->checkpoints);
    s->checkpoint_failures = atomic_load(&e->checkpoint_failures);
    s->checkpoint_ms = atomic_load(&e->checkpoint_ms);
    s->checkpoint_bytes = atomic_load(&e->checkpoint_bytes);
    s->degraded = atomic_load(&e->degraded);
    s->partitions = atomic_load(&e->assigned);
    s->input_gaps = atomic_load(&e->input_gaps);
    s->input_gap_messages = atomic_load(&e->input_gap_messages);
    s->split_assignments = atomic_load(&e->split_assignments);
}

static void print_stats(tl_engine *e)
{
    tl_engine_stats s;
    tl_engine_stats_get(e, &s);
    char wm[32] = "none";
    if (s.watermark != INT64_MIN)
        tl_time_format_rfc3339(s.watermark, wm, sizeof wm);
    tl_log(TL_LOG_INFO,
           "stats: messages=%llu events=%llu malformed=%llu late=%llu held_back=%llu ring_waits=%llu series=%llu overflowed=%llu "
           "capped=%llu alerts=%llu acked=%llu retries=%llu gap_lost=%llu watermark=%s",
           (unsigned long long)s.messages, (unsigned long long)s.events, (unsigned long long)s.malformed,
           (unsigned long long)s.late, (unsigned long long)s.holds,
           (unsigned long long)s.ring_waits, (unsigned long long)s.series, (unsigned long long)s.overflowed,
           (unsigned long long)s.capped,
           (unsigned long long)s.alerts, (unsigned long long)s.alerts_acked, (unsigned long long)s.delivery_retries,
           (unsigned long long)s.input_gap_messages, wm);
    if (e->cfg->state_dir)
        tl_log(s.degraded ? TL_LOG_WARN : TL_LOG_INFO,
               "state: checkpoints=%llu failures=%llu last_pause_ms=%lld last_bytes=%llu%s", (unsigned long long)s.checkpoints,
               (unsigned long long)s.checkpoint_failures, (long long)s.checkpoint_ms, (unsigned long long)s.checkpoint_bytes,
               s.degraded ? " DEGRADED" : "");
}

int tl_engine_run(tl_engine *e)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)e->cfg->n_inputs);
    for (size_t i = 0; i < e->cfg->n_inputs; i++)
        rd_kafka_topic_partition_list_add(topics, e->cfg->inputs[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(e->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        tl_log(TL_LOG_ERROR, "subscribe: %s", rd_kafka_err2str(err));
        return 1;
    }
    for (uint32_t i = 0; i < e->nw; i++) {
        if (pthread_create(&e->w[i].th, NULL, worker_main, &e->w[i]) != 0) {
            tl_log(TL_LOG_ERROR, "cannot start worker thread: %s", strerror(errno));
            atomic_store(&e->stop, 1);
            break;
        }
        e->w[i].started = 1;
        char name[32]; /* visible in top -H and perf: tl:worker<N> (the kernel keeps 15 bytes) */
        snprintf(name, sizeof name, "tl:worker%u", i);
        name[15] = '\0';
        pthread_setname_np(e->w[i].th, name);
    }
    int64_t next_stats = wall_ms() + e->cfg->stats_interval_ms;
    int quiet_rounds = 0;
    while (!atomic_load(&e->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->rk, 10);
        if (m) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                tl_log(TL_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        tl_output_poll(e->out, 0);
        tl_heartbeat_tick(e->hb);
        tl_selfalert_tick(e->sa, e);
        if (e->on_tick && e->on_tick(e->on_tick_ctx))
            atomic_store(&e->stop, 1);
        char fe[256];
        if (rd_kafka_fatal_error(e->rk, fe, sizeof fe)) {
            tl_log(TL_LOG_ERROR, "fatal consumer error: %s", fe);
            e->fatal = 1;
            break;
        }
        int64_t now = wall_ms();
        if (e->cfg->watch && now >= e->watch_next) {
            e->watch_next = now + 2000;
            uint64_t sig = rules_signature(e->cfg);
            if (e->watch_sig && sig != e->watch_sig) {
                tl_log(TL_LOG_INFO, "rule files changed: reloading");
                atomic_store(&e->reload, 1);
            }
            e->watch_sig = sig;
        }
        if (atomic_exchange(&e->reload, 0))
            do_reload(e);
        if (e->cfg->state_dir && now >= e->next_ckpt && atomic_load(&e->assigned) > 0) {
            int ok = take_checkpoint(e, 0, 0) == 0;
            int64_t retry = e->cfg->checkpoint_interval_ms < 5000 ? e->cfg->checkpoint_interval_ms : 5000;
            e->next_ckpt = wall_ms() + (ok ? e->cfg->checkpoint_interval_ms : retry);
        }
        if (e->cfg->stats_interval_ms > 0 && now >= next_stats) {
            print_stats(e);
            next_stats = now + e->cfg->stats_interval_ms;
        }
        if (atomic_load(&e->exit_at_end) && atomic_load(&e->assigned) > 0) {
            int q = tl_output_pending(e->out) == 0;
            for (uint32_t i = 0; i < e->nw && q; i++)
                q = atomic_load(&e->w[i].quiescent);
            quiet_rounds = q ? quiet_rounds + 1 : 0;
            if (quiet_rounds >= 5) {
                tl_log(TL_LOG_INFO, "every assigned partition is at its end; stopping");
                break;
            }
        }
    }
    /* drain: workers stop consuming, finish owner duties, deliver, store offsets (each gives up
     * after shutdown_timeout; this wait is a backstop a little longer than theirs) */
    atomic_store(&e->stopping, 1);
    int64_t end = wall_ms() + e->cfg->shutdown_timeout_ms + 5000;
    for (;;) {
        int fin = 1;
        for (uint32_t i = 0; i < e->nw; i++)
            fin &= !e->w[i].started || atomic_load(&e->w[i].finished);
        if (fin || wall_ms() > end)
            break;
        tl_output_poll(e->out, 5);
    }
    for (uint32_t i = 0; i < e->nw; i++)
        if (e->w[i].started)
            pthread_join(e->w[i].th, NULL);
    for (uint32_t i = 0; i < e->nw; i++)
        e->w[i].started = 0;
    e->stopped = 1;
    if (e->cfg->state_dir) {
        /* the workers are gone: their state is final. Everything delivered: save it, then
         * commit the offsets it covers. Otherwise the previous checkpoint stays, and the input
         * after it is read again at the next start (the undelivered alerts are produced again). */
        for (int64_t flush_end = wall_ms() + 5000; tl_output_pending(e->out) && wall_ms() < flush_end;)
            tl_output_poll(e->out, 5);
        if (take_checkpoint(e, 1, 0) == 0)
            tl_log(TL_LOG_INFO, "final checkpoint written (%llu bytes)", (unsigned long long)atomic_load(&e->checkpoint_bytes));
    } else {
        rd_kafka_commit(e->rk, NULL, 0);
    }
    print_stats(e);
    return e->fatal ? 1 : 0;
}

void tl_engine_destroy(tl_engine *e)
{
    if (!e)
        return;
    if (e->rk) {
        rd_kafka_consumer_close(e->rk);
    }
    for (uint32_t i = 0; e->w && i < e->nw; i++) {
        worker *w = &e->w[i];
        tl_shard_destroy(w->shard);
        for (uint32_t o = 0; o < e->nw; o++)
            tl_combiner_destroy(w->comb[o]);
        tl_traces_destroy(w->traces);
        tl_router_fini(&w->router);
        tl_free(w->scratch.buf);
        tl_free(w->keys);
        tl_free(w->batches);
        tl_free(w->passes);
        for (uint32_t k = 0; k < w->nparts; k++)
            part_free(w, &w->parts[k]);
        tl_free(w->parts);
        for (uint32_t k = 0; k < w->npending; k++)
            tl_free(w->pending_parts[k].topic);
        tl_free(w->pending_parts);
        for (uint32_t o = 0; o < e->nw; o++)
            tl_ring_destroy(w->out[o]);
        if (w->q)
            rd_kafka_queue_destroy(w->q);
    }
    tl_free(e->w);
    free_offsets(e->ck_offs, e->ck_noffs);
    tl_ckstore_destroy(e->store);
    for (int i = 0; i < e->nowned; i++)
        tl_program_destroy(e->owned[i]);
    if (e->rk)
        rd_kafka_destroy(e->rk);
    tl_output_destroy(e->out);
    tl_heartbeat_destroy(e->hb); /* after the output's final flush, which reports against its ack */
    tl_selfalert_destroy(e->sa); /* likewise */
    tl_decoder_destroy(e->dec);
    tl_free(e);
}
