/* engine/shard.h - the owner of a set of series: folds contributions, evaluates rules.
 *
 * Each worker thread owns one shard. Events are decoded and filtered by whichever worker
 * consumed them (route.c); the contribution of an event to a series is then applied by the
 * series' owner, here: folded event by event (tl_shard_fold), or merged from a delta another
 * worker pre-aggregated over its batch (tl_shard_merge, combine.h). So every series has
 * exactly one writer, and evaluation reads only state its own thread wrote.
 *
 * Evaluation (tl_shard_evaluate) is driven by the watermark W (event time) and is
 * deterministic: a rule is evaluated for every series of its group each time W crosses the
 * end B of one of the rule's slots, over the k complete slots ending there, and any
 * transition is stamped B. The same input therefore gives the same transitions, with the
 * same timestamps and identities, whatever the batching, the number of workers or a replay.
 * Rules whose condition can only become more true as events arrive (count/max above a
 * threshold, ratio above 0: tl_rule.early) also fire early: when a series changes and the
 * condition already holds on the open slot, the firing that the evaluation at B is certain
 * to make is emitted at once (stamped B), so a page does not wait for the slot to close.
 *
 * Resolved notifications are re-sent (opts.resend_resolved_ms, as Prometheus keeps sending
 * resolved alerts to Alertmanager for 15 minutes), so one lost message does not leave a page
 * open: after a resolution at R, the closing evaluations at R + interval, R + 2 interval, ...
 * up to R + resend_resolved_ms emit the same resolved alert again (same transition_id,
 * starts_at, ends_at, value; `resend` = 1, 2, ...; timestamp the re-send's), until the
 * instance goes pending or firing again. A series keeps its record while a re-send is due.
 *
 * Threading: one thread per shard; nothing is shared except the read-only program.
 */
#ifndef TL_SHARD_H
#define TL_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "filter.h"
#include "program.h"
#include "window.h"

/* One event's contribution, as routed to the owners of its series. */
/* A key's owner when its contribution was already taken elsewhere (combine.h). */
#define TL_OWNER_NONE (UINT32_MAX - 1)

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
    uint32_t dmask;               /* bit d set when dhash[d] (program dfields) is present */
    uint64_t dhash[TL_MAX_DFIELDS];
    tl_str trace_id;
    uint32_t nkeys;
    tl_fold_key *keys;
} tl_fold;

/* What f contributes to plan pl (a COUNTER's numerator hit, a field aggregate's value). */
static inline tl_contrib tl_fold_contrib(const tl_fold *f, const tl_plan *pl)
{
    tl_contrib c = {.ts = f->ts, .trace_id = f->trace_id};
    if (pl->kind == TL_PLAN_COUNTER) {
        c.hit = pl->pred >= 0 && tl_filter_bit(f->fbits, (uint32_t)pl->pred);
    } else if (f->num_mask & (1u << pl->field)) {
        c.has_value = 1;
        c.value = f->num[pl->field];
    }
    return c;
}

typedef void (*tl_alert_sink_fn)(void *ctx, const tl_alert *a);

typedef struct tl_shard_opts {
    uint64_t max_series;     /* per group table; 0 = unlimited */
    uint64_t max_series_total; /* over all group tables of this shard (overflow series not
                                  counted); 0 = unlimited */
    size_t sketch_max_bytes; /* 0 = unlimited */
    tl_alert_sink_fn sink;
    void *sink_ctx;
    uint32_t nowners;        /* shards sharing the series (a rule's max_instances is split
                                evenly between them); 0 = 1 */
    int64_t resend_resolved_ms; /* re-send a resolved notification for this long after the
                                   resolution (event time); 0 = never (zeroed opts: tests and
                                   `tripline test` see each transition once) */
    int64_t resend_interval_ms; /* ... this often; <= 0 means once, at the end */
} tl_shard_opts;

typedef struct tl_shard_stats {
    uint64_t folded;     /* (event, series) contributions applied */
    uint64_t late;       /* contributions dropped as later than the allowed lateness */
    uint64_t sketch_full;
    uint64_t overflowed; /* contributions folded into an overflow series (either cap) */
    uint64_t series;     /* live series */
    uint64_t evaluations;
    uint64_t alerts;
    uint64_t evicted;
    uint64_t capped;     /* instances refused by a rule's max_instances (once per episode) */
} tl_shard_stats;

typedef struct tl_shard tl_shard;

tl_shard *tl_shard_new(const tl_program *prog, const tl_shard_opts *opts);
void tl_shard_destroy(tl_shard *s);

/* Apply the keys of `f` whose owner is `owner` (pass UINT32_MAX for all). */
void tl_shard_fold(tl_shard *s, const tl_fold *f, uint32_t owner);

/* Merge what another worker pre-aggregated for one of this shard's series (combine.h). */
struct tl_xfer_merge;
void tl_shard_merge(tl_shard *s, const struct tl_xfer_merge *m);

/* Evaluate at watermark `wm`. Returns the number of alerts emitted. */
uint32_t tl_shard_evaluate(tl_shard *s, int64_t wm);

/* Lateness horizon: contributions older than wm - lateness are dropped (call before fold). */
void tl_shard_set_watermark(tl_shard *s, int64_t wm);

void tl_shard_stats_get(const tl_shard *s, tl_shard_stats *out);

/* Hot reload: a shard for `prog` that carries over what did not change in `old`, which is
 * destroyed. Series of a group-by set present in both programs move over; a plan's windows
 * move when an identical plan (same group-by set, filter, numerator or field, slot width)
 * exists in `prog` (re-laid by epoch if the ring length changed); a rule's pending/firing
 * state moves when a rule of the same name and definition exists. Everything else starts
 * empty, and new rules start evaluating at the current watermark. NULL on OOM: `old` keeps
 * running (possibly with some window contents already moved out). */
tl_shard *tl_shard_migrate(tl_shard *old, const tl_program *prog, const tl_shard_opts *opts);

/* Number of instances currently firing (for tests and the demo summary). */
uint32_t tl_shard_firing(const tl_shard *s);

/* ---- checkpoints (checkpoint.c) ------------------------------------------------------------
 *
 * A checkpoint names groups, plans and rules by what they are (label names, plan signature,
 * rule name and definition), not by their ids, so the state of a rule pack that changed
 * between runs loads the way a hot reload carries it over: what still exists keeps its
 * windows and alert state. The owner calls these with its workers parked. */
struct tl_ckw;
struct tl_ckr;

/* What identifies a plan's windows across programs: kind, slot width, measured field, filter
 * and numerator text (the same things a reload compares). */
uint64_t tl_plan_sig(const tl_program *p, const tl_plan *pl);

/* The checkpoint's program as it maps onto the running one. Built by checkpoint.c; arrays
 * are indexed by the checkpoint's ids. */
typedef struct tl_ckmap {
    uint32_t ngroups, nplans, nrules;
    int32_t *group;         /* -> running group id, -1: gone */
    int32_t *plan;          /* -> running plan id, -1: gone */
    int32_t *rule;          /* -> running rule id, -1: gone or changed */
    uint8_t *plan_kind;     /* checkpoint plan kinds (to read a plan that is gone) */
    uint32_t *group_nplans; /* per checkpoint group: its plans, then its rules, in saved order */
    uint32_t **group_plans;
    uint32_t *group_nrules;
    uint32_t **group_rules;
} tl_ckmap;

/* The options s was created with (to create an empty one like it). */
tl_shard_opts tl_shard_get_opts(const tl_shard *s);

/* Window, alert and closing state of every series of s. */
void tl_shard_save(const tl_shard *s, struct tl_ckw *w);
/* Load what one tl_shard_save wrote into the running shards (each series goes to the shard
 * that owns its hash). *closed (per running rule) takes the minimum closing progress seen,
 * *wm the checkpoint's watermark. 0 on success, -1 on a malformed file (the reader says where),
 * -2 on out of memory. Series refused by a full table, and sketches a full pool could not take,
 * are counted in *dropped. */
int tl_shard_load(tl_shard **shards, uint32_t nshards, const tl_ckmap *map, struct tl_ckr *r, uint64_t *dropped);
/* After loading: start every shard at watermark wm (its closing progress from load). */
void tl_shard_restore_done(tl_shard *s, int64_t wm);

#endif
