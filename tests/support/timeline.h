/* tests/support/timeline.h - rule tests written as event timelines.
 *
 * A timeline compiles a rule file (inline YAML), feeds events described in a compact
 * notation straight into a router and a single shard (no Kafka), evaluates at chosen event
 * times, and records every alert, so a test reads like the incident it describes:
 *
 *   tl_tl *t = tl_tl_new(rules_yaml);
 *   tl_tl_every(t, 0, 12 * MIN, SEC, "kind=tool_call tool=get_order_status status=ok",
 *               0.18, "status=error");   // every 1s for 12m, 18% of them errors
 *   tl_tl_run(t, 0, 12 * MIN, SEC);      // evaluate every second
 *   assert firing at ~10m ...
 *
 * Event notation: space-separated key=value; keys are event field names, `flags=a,b`,
 * `attr.KEY=value`, `trace=ID`. Numeric fields parse as numbers.
 */
#ifndef TL_TIMELINE_H
#define TL_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"

#define SEC 1000LL
#define MIN (60 * SEC)

typedef struct tl_tl_alert {
    char rule[64];
    tl_alert_state state;
    int64_t ts, starts_at, ends_at;
    int64_t emitted_wm;     /* watermark of the evaluation that emitted it */
    double value;
    char labels[256];       /* "service=a,tool=b" */
    char fingerprint[17];
    char transition_id[33];
    uint32_t resend;        /* n-th re-send of a resolved notification; 0 otherwise */
    char summary[512];
    uint32_t n_exemplars;
    char exemplar0[64];
} tl_tl_alert;

typedef struct tl_tl tl_tl;

/* Compile rules (lateness 30s, renotify default 0 = never unless the rule sets one).
 * Fails the test (cmocka) on a rule error. */
tl_tl *tl_tl_new(const char *rules_yaml);
void tl_tl_free(tl_tl *t);

/* One event at event time ts. */
void tl_tl_event(tl_tl *t, int64_t ts, const char *spec);
/* Events every `step` in [from, to): the fraction `bad_frac` of them (spread evenly) get
 * `bad_spec` applied on top of `spec`. */
void tl_tl_every(tl_tl *t, int64_t from, int64_t to, int64_t step, const char *spec, double bad_frac,
                 const char *bad_spec);
/* Interleave: events are buffered and folded in time order when tl_tl_run/eval runs. */
void tl_tl_eval(tl_tl *t, int64_t wm);
/* Fold buffered events up to `fold_to` (>= wm, within the lead), then evaluate at wm: the
 * events of a partition that runs ahead of the watermark. */
void tl_tl_eval_ahead(tl_tl *t, int64_t fold_to, int64_t wm);
/* Fold buffered events up to each evaluation time and evaluate every `step` in [from, to].
 * Keep `step` within the lead (5m): the engine never folds events further ahead of an
 * evaluation than that, and slot rings only have room for it. */
void tl_tl_run(tl_tl *t, int64_t from, int64_t to, int64_t step);

/* Re-send resolved notifications for `for_ms` every `every_ms` (tl_shard_opts; off unless
 * called). Call before any event is folded. */
void tl_tl_resend(tl_tl *t, int64_t for_ms, int64_t every_ms);

/* Hot reload: compile `rules_yaml` and carry the shard's state over (tl_shard_migrate). */
void tl_tl_reload(tl_tl *t, const char *rules_yaml);

size_t tl_tl_nalerts(const tl_tl *t);
const tl_tl_alert *tl_tl_alert_at(const tl_tl *t, size_t i);
/* First alert of `rule` in `state` (NULL if none). */
const tl_tl_alert *tl_tl_find(const tl_tl *t, const char *rule, tl_alert_state state);
size_t tl_tl_count(const tl_tl *t, const char *rule, tl_alert_state state);
uint64_t tl_tl_late(const tl_tl *t);
uint64_t tl_tl_capped(const tl_tl *t);
uint64_t tl_tl_series(const tl_tl *t); /* live series in the shard */

#endif
