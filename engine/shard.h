/* engine/shard.h - the owner of a set of series: folds contributions, evaluates rules.
 *
 * Each worker thread owns one shard. Events are decoded and filtered by whichever worker
 * consumed them (route.c); the contribution of an event to a series is then applied by the
 * series' owner, here. So every series has exactly one writer, and evaluation reads only
 * state its own thread wrote.
 *
 * Evaluation (tl_shard_evaluate) runs at the watermark W (event time): rules are evaluated
 * for every series whose state changed since the last evaluation (low alert latency), and
 * for all series whenever W crosses a slot boundary (windows slide, `for` timers advance,
 * alerts resolve when data stops). Transitions produce tl_alert values through the sink.
 *
 * Threading: one thread per shard; nothing is shared except the read-only program.
 */
#ifndef TL_SHARD_H
#define TL_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "program.h"

/* One event's contribution, as routed to the owners of its series. */
typedef struct tl_fold_key {
    uint32_t group;
    uint32_t owner;
    uint32_t len;
    uint64_t hash;
    const char *key;
} tl_fold_key;

typedef struct tl_fold {
    int64_t ts;
    const uint64_t *fbits;        /* filter bitset (program->filter_words words) */
    double num[TL_NUM_FIELDS];
    uint32_t num_mask;            /* bit f set when num[f] is present */
    tl_str trace_id;
    uint32_t nkeys;
    tl_fold_key *keys;
} tl_fold;

typedef void (*tl_alert_sink_fn)(void *ctx, const tl_alert *a);

typedef struct tl_shard_opts {
    uint64_t max_series;     /* per group table; 0 = unlimited */
    size_t sketch_max_bytes; /* 0 = unlimited */
    tl_alert_sink_fn sink;
    void *sink_ctx;
} tl_shard_opts;

typedef struct tl_shard_stats {
    uint64_t folded;     /* (event, series) contributions applied */
    uint64_t late;       /* contributions dropped as later than the allowed lateness */
    uint64_t sketch_full;
    uint64_t overflowed; /* contributions folded into an overflow series */
    uint64_t series;     /* live series */
    uint64_t evaluations;
    uint64_t alerts;
    uint64_t evicted;
} tl_shard_stats;

typedef struct tl_shard tl_shard;

tl_shard *tl_shard_new(const tl_program *prog, const tl_shard_opts *opts);
void tl_shard_destroy(tl_shard *s);

/* Apply the keys of `f` whose owner is `owner` (pass UINT32_MAX for all). */
void tl_shard_fold(tl_shard *s, const tl_fold *f, uint32_t owner);

/* Evaluate at watermark `wm`. Returns the number of alerts emitted. */
uint32_t tl_shard_evaluate(tl_shard *s, int64_t wm);

/* Lateness horizon: contributions older than wm - lateness are dropped (call before fold). */
void tl_shard_set_watermark(tl_shard *s, int64_t wm);

void tl_shard_stats_get(const tl_shard *s, tl_shard_stats *out);

/* Number of instances currently firing (for tests and the demo summary). */
uint32_t tl_shard_firing(const tl_shard *s);

#endif
