/* engine/window.h - sliding event-time windows made of slots, per plan and series.
 *
 * A plan's state in a series is a ring of `nslots` slots of `width_ms` each. Slot i holds
 * the events whose timestamp falls in epoch e = floor(ts / width) with e % nslots == i; the
 * slot records e so stale contents are recognised and reset lazily (no timer walks the
 * rings). A window of k slots read at watermark W covers the epochs
 * (epoch(W) - k, epoch(W)], i.e. the last k slots including the current, partial one. The
 * ring is longer than the longest window by the allowed lateness behind the watermark and
 * the same lead ahead of it (tl_program_lead_ms), so a late event still lands in its own
 * slot and a partition running ahead of the watermark does not overwrite live slots; the
 * engine pauses partitions that run further ahead (event-time alignment).
 *
 * Every accumulator is mergeable (counts and sums add, min/max combine, sketches add
 * bin-wise), which keeps scale-out by re-keying partial aggregates possible.
 *
 * Exemplars: each plan state keeps TL_EXEMPLARS trace ids that explain its value: for
 * counters with a numerator the latest matching events, for counters without one the
 * latest events, for field aggregates the largest values seen in the window.
 *
 * Threading: a plan state belongs to the series' owner thread; nothing here locks.
 */
#ifndef TL_WINDOW_H
#define TL_WINDOW_H

#include <stdint.h>

#include "program.h"
#include "hll.h"
#include "sketch.h"

#define TL_EXEMPLARS 4
#define TL_EXEMPLAR_ID_MAX 40

typedef struct tl_cslot {
    int64_t epoch;
    uint32_t n;    /* events matching the plan's filter */
    uint32_t hits; /* ... and its numerator */
} tl_cslot;

typedef struct tl_mslot {
    int64_t epoch;
    uint32_t n;  /* events matching the filter */
    uint32_t nv; /* of which carried the field */
    double sum, min, max;
    tl_sketch_ref sk; /* SKETCH plans only */
    uint32_t hll;     /* DISTINCT plans only: a tl_hll_ref */
} tl_mslot;

typedef struct tl_exemplar {
    int64_t ts;
    double v;
    uint8_t len;
    char id[TL_EXEMPLAR_ID_MAX];
} tl_exemplar;

/* The plan state's first cache line holds what every fold reads: for counters where the next
 * "latest" exemplar goes, for field aggregates the smallest exemplar value and the oldest
 * exemplar time, so a value that would not become an exemplar (most of them) is turned away
 * without reading the four exemplars (four more cache lines of a series that is usually not in
 * cache when there are many). */
typedef struct tl_planstate {
    uint32_t ex_next;  /* ring position for "latest" exemplars */
    uint32_t pad;
    double ex_floor;   /* field aggregates: min value over ex[] (-INFINITY while one is empty) */
    int64_t ex_oldest; /* field aggregates: min ts over ex[] (INT64_MIN while one is empty) */
    uint64_t live;     /* rings of at most 64 slots: bit i set when slot i may hold data (it
                          got an epoch, and no expiry found that epoch too old since), so a
                          read visits only those of its window's slots: with many series most
                          windows are sparse, and each slot read is a cache miss */
    tl_exemplar ex[TL_EXEMPLARS];
    /* followed by nslots tl_cslot or tl_mslot */
} tl_planstate;

/* Slot i of the ring got an epoch (every writer of a slot's epoch calls this). */
static inline void tl_window_mark(const tl_plan *plan, tl_planstate *st, uint32_t i)
{
    if (plan->nslots <= 64)
        st->live |= 1ull << i;
}

/* Bytes of a plan's state for a given kind and ring length. */
uint32_t tl_window_state_size(tl_plan_kind kind, uint32_t nslots);
void tl_window_init(const tl_plan *plan, tl_planstate *st);
/* Give sketch chunks back (before freeing the series). */
void tl_window_fini(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool);

/* What one event contributes to one plan. */
typedef struct tl_contrib {
    int64_t ts;
    int hit;          /* numerator matched (COUNTER) */
    int has_value;    /* the field is present (MOMENTS/SKETCH) */
    double value;
    tl_str trace_id;
} tl_contrib;

/* Fold one event. `low_epoch` is the oldest epoch still accepted (from watermark minus
 * lateness). Returns 0 if folded, 1 if the event was late (older than the ring or the
 * lateness), 2 if the sketch pool was full (counts folded, the value not sketched). */
int tl_window_add(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool,
                  const tl_contrib *c, int64_t low_epoch);
/* The same with the event's epoch and its slot (tl_window_slot) already known: the shard
 * computes them once per plan and slot width, not once per series (they are divisions). */
int tl_window_add_at(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, const tl_contrib *c,
                     int64_t epoch, uint32_t slot, int64_t low_epoch);

/* tl_window_add_at with its most common cases inline, when the slot already holds epoch e and
 * the event leaves no exemplar: a counter whose numerator did not match (or without a trace
 * id), a field aggregate the event does not carry the field of. That is most plan updates of
 * a rule pack of ratios and averages, and it spares the fold a call per plan; everything else
 * takes the full function. */
static inline int tl_window_add_fast(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool,
                                     const tl_contrib *c, int64_t e, uint32_t i, int64_t low_epoch)
{
    if (e < low_epoch)
        return 1;
    if (plan->kind == TL_PLAN_COUNTER && !(c->trace_id.n && (plan->pred < 0 || c->hit))) {
        tl_cslot *s = (tl_cslot *)(st + 1) + i;
        if (s->epoch == e) {
            s->n++;
            s->hits += c->hit ? 1u : 0u;
            return 0;
        }
    } else if ((plan->kind == TL_PLAN_MOMENTS || plan->kind == TL_PLAN_SKETCH) && !c->has_value) {
        tl_mslot *s = (tl_mslot *)(st + 1) + i; /* an event without the field: counted, no value */
        if (s->epoch == e) {
            s->n++;
            return 0;
        }
    }
    return tl_window_add_at(plan, st, pool, c, e, i, low_epoch);
}

/* Aggregate over the k slots ending at epoch `now_epoch`. */
typedef struct tl_winagg {
    uint64_t n, hits, nv;
    double sum, min, max;
} tl_winagg;
void tl_window_read(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch, uint32_t k,
                    tl_winagg *out);
/* Merge the sketches of the same k slots into acc (SKETCH plans). */
void tl_window_read_sketch(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch,
                           uint32_t k, const tl_sketch_pool *pool, tl_sketch_acc *acc);
/* 1 if any slot holds an epoch >= min_epoch (the series still has live data). */
int tl_window_live(const tl_plan *plan, const tl_planstate *st, int64_t min_epoch);
/* Release sketches of slots older than min_epoch, and forget those slots in st->live (called
 * at slot ticks; no read looks at epochs older than the ring's span behind the watermark). */
void tl_window_expire(const tl_plan *plan, tl_planstate *st, int64_t min_epoch,
                      tl_sketch_pool *pool);

/* DISTINCT plans: fold one event (`has`: the field is present, `hash` its value's hash), merge
 * the window's sketches into acc, and give sketches of slots older than min_epoch back
 * (INT64_MAX: all, before a series is freed). Same return codes as tl_window_add. */
int tl_window_add_distinct(const tl_plan *plan, tl_planstate *st, tl_hll_pool *pool, int64_t ts, int has,
                           uint64_t hash, int64_t low_epoch);
void tl_window_read_distinct(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch, uint32_t k,
                             const tl_hll_pool *pool, tl_hll_acc *acc);
void tl_window_clear_distinct(const tl_plan *plan, tl_planstate *st, tl_hll_pool *pool, int64_t min_epoch);

/* Exemplar trace ids with since_ms <= ts < until_ms, best first, then (to fill up to max)
 * those at or after until_ms; returns how many (<= max). */
uint32_t tl_window_exemplars(const tl_plan *plan, const tl_planstate *st, int64_t since_ms,
                             int64_t until_ms, const char **ids, uint32_t max);

/* ---- checkpoints (checkpoint.c) ----------------------------------------------------------
 *
 * A plan state as bytes: its exemplars, then its slots that hold an epoch, each with its
 * epoch, so a loader places them by epoch into a ring of any length (the ring grows or
 * shrinks when lateness or the lead changed between runs; a shorter ring keeps the newer
 * slots). Sketches go as (bin, count) pairs, distinct-count sketches as their hashes or
 * registers. tl_window_load fills a freshly initialised state; on a malformed record it marks
 * the reader bad (see ckio.h) and returns -1, and 1 when a pool was full (those slots load
 * without their sketch). */
struct tl_ckw;
struct tl_ckr;
void tl_window_save(const tl_plan *plan, const tl_planstate *st, const tl_sketch_pool *pool, const tl_hll_pool *hll,
                    struct tl_ckw *w);
int tl_window_load(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, tl_hll_pool *hll, struct tl_ckr *r);

/* ---- deltas: partial aggregates a worker builds for a series another worker owns --------
 *
 * combine.c folds the events of one batch into a small per-series copy of a plan state with
 * TL_DELTA_SLOTS slots (slot e % TL_DELTA_SLOTS; the combiner keeps every epoch it holds
 * within TL_DELTA_SLOTS consecutive ones), with tl_window_add_at as usual; the owner then
 * merges each slot with tl_window_merge and each exemplar with tl_window_merge_exemplar.
 * Merging is exact for counts, sums, min/max and sketches; exemplars are offered to the
 * owner's choice as if their events had arrived then. */
#define TL_DELTA_SLOTS 4

typedef struct tl_delta_slot {
    int64_t epoch;
    uint32_t n, hits, nv; /* counters: n and hits; field aggregates: n and nv */
    double sum, min, max;
    uint32_t npairs;      /* SKETCH plans: (bin, count) pairs */
    const uint16_t *bins;
    const uint32_t *counts;
} tl_delta_slot;

uint32_t tl_window_delta_size(tl_plan_kind kind);
void tl_window_delta_init(const tl_plan *plan, tl_planstate *st);
/* Slot i of a delta state into *out (sketch pairs into bins/counts, which must hold
 * tl_sketch_pairs() of it); 0 if the slot is empty. */
int tl_window_delta_slot(const tl_plan *plan, const tl_planstate *st, uint32_t i, const tl_sketch_pool *pool,
                         tl_delta_slot *out, uint16_t *bins, uint32_t *counts);
/* The epoch slot i of a delta state holds (INT64_MIN: empty). */
int64_t tl_window_delta_epoch(const tl_plan *plan, const tl_planstate *st, uint32_t i);
void tl_window_delta_reset(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool);
/* Merge a delta slot into a series' plan state. Same return codes as tl_window_add. */
int tl_window_merge(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, const tl_delta_slot *d,
                    int64_t low_epoch);
void tl_window_merge_exemplar(const tl_plan *plan, tl_planstate *st, const tl_exemplar *x);

static inline int64_t tl_epoch(int64_t ts, int64_t width)
{
    return ts >= 0 ? ts / width : -((-ts + width - 1) / width);
}

/* Where epoch e lives in a plan's ring. */
static inline uint32_t tl_window_slot(const tl_plan *plan, int64_t e)
{
    return (uint32_t)(((e % plan->nslots) + plan->nslots) % plan->nslots);
}

/* Most events fall in the same slot as the previous one, and a slot's epoch and ring index
 * are the same for every series of a plan: remembered per plan (by whoever folds), they spare
 * two divisions per plan and series on the per-event path. Zeroed (lo == hi) is empty. */
typedef struct tl_slotpos {
    int64_t lo, hi; /* timestamps [lo, hi) are in epoch e */
    int64_t e;
    uint32_t slot;
} tl_slotpos;

static inline void tl_slotpos_at(tl_slotpos *sp, const tl_plan *plan, int64_t ts)
{
    if (ts >= sp->lo && ts < sp->hi)
        return;
    sp->e = tl_epoch(ts, plan->width_ms);
    sp->slot = tl_window_slot(plan, sp->e);
    sp->lo = sp->e * plan->width_ms;
    sp->hi = sp->lo + plan->width_ms;
}

#endif
