/* engine/selfalert.h - alerts about tripline itself: cardinality overflow, failing checkpoints.
 *
 * Why: the engine's own trouble is invisible in the rule alerts. A flood of distinct tool names
 * (a bug or an attacker) fills the series tables, and every new label combination is then
 * folded into one overflow series: alerts for it are merged or lost in the mix. A full disk
 * makes checkpoints fail, so state stops being saved and offsets stop being committed. Both
 * are counted (tl_engine_stats), but counters are read by nobody at 3 am; an alert on the same
 * topic as every other alert reaches the people who can act.
 *
 * The alerts (owner "tripline", labels {instance: the consumer group id}, as the heartbeat):
 *  - TriplineCardinalityOverflow (warning): fires at a check that sees the `overflowed`
 *    counter (contributions folded into overflow series, summed over workers) grown since the
 *    previous check; value = that growth (window = the check interval). Resolves at the first
 *    check after it has not grown for TL_SELF_QUIET_CHECKS intervals (10 minutes by default).
 *  - TriplineCheckpointFailing (critical): fires at a check that sees `degraded` (the last
 *    checkpoint failed: its local write, or its copy to the state topic with state.store:
 *    kafka); value = failed attempts since the last check that saw it healthy. Resolves at the
 *    first check that sees it cleared.
 *  - TriplineInputGap (critical): fires at a check that sees `input_gap_messages` (input
 *    deleted by retention before it was read, found when partitions are assigned: engine.c
 *    check_input_gaps) grown since the previous check (from 0: a gap found before the first
 *    check counts); value = that growth. Resolves like the overflow alert.
 * Checks run every cfg->self_check_ms of wall clock (alerts.self_check_interval, default 1m,
 * 0 = off; the first one takes the counters' starting point). While firing, an alert is sent
 * again every cfg->renotify_ms (a new notification, as a rule alert's re-notification); a
 * resolved notification is re-sent every cfg->resend_interval_ms for cfg->resend_resolved_ms
 * (same transition id, `resend` = 1, 2, ...), both measured in wall clock, checked at the
 * checks. timestamp, starts_at and ends_at are wall-clock times.
 *
 * Identity (alert.h): fingerprint of the name and {instance}, stable across restarts and
 * machines; transition id of (fingerprint, starts_at, state, notification number). Their
 * lifecycle (firing since, last notification and its number, resolution and its re-sends, the
 * last overflow growth) is part of the checkpoint's engine section (checkpoint.h), so a restart
 * or a standby's takeover (lease.h) goes on with it: it resolves what the previous run fired,
 * with the same starts_at. Monotonic times are saved as wall-clock times, so the downtime
 * counts as elapsed. The counters themselves restart at 0 with the process; the first check
 * takes their new starting point. Limit: TriplineCheckpointFailing fires while checkpoints
 * fail, so no checkpoint records it until they work again; a restart before that forgets it
 * (it fires again, same fingerprint, if they still fail).
 *
 * Delivery: through output.c like every alert (idempotent producer, produced again until
 * acknowledged) with an ack of their own that no input offset waits for. Not printed with
 * --print-alerts; each transition is logged.
 *
 * The pieces every alert about tripline itself shares (identity, the common fields, clocks,
 * sending) are here too; heartbeat.c uses them.
 *
 * Threading: the engine's main thread only (tl_selfalert_tick next to tl_heartbeat_tick).
 * Ownership: holds `out` without owning it; destroy after tl_output_destroy(), whose final
 * flush still reports deliveries against the ack.
 */
#ifndef TL_SELFALERT_H
#define TL_SELFALERT_H

#include <stdint.h>
#include <time.h>

#include "alert.h"
#include "config.h"
#include "engine.h"
#include "output.h"

#define TL_SELF_OVERFLOW_ALERT "TriplineCardinalityOverflow"
#define TL_SELF_CHECKPOINT_ALERT "TriplineCheckpointFailing"
#define TL_SELF_GAP_ALERT "TriplineInputGap"
#define TL_SELF_QUIET_CHECKS 10 /* overflow resolves after this many checks without growth */
#define TL_SELFALERT_MAX 3      /* alerts one check can produce (one per kind) */

/* ---- shared by every alert about tripline itself (heartbeat.c, selfalert.c) ------------------ */

typedef struct tl_self_ident {
    const char *name;                      /* static string: the alert name */
    uint64_t fp;                           /* fingerprint as a number (transition ids) */
    char fingerprint[17];
    char instance[TL_ALERT_LABEL_MAX + 1]; /* the consumer group id: the one label */
    char host[128];                        /* for descriptions */
} tl_self_ident;

/* Name, instance (group, cut to TL_ALERT_LABEL_MAX bytes; NULL = ""), host and fingerprint. */
void tl_self_ident_init(tl_self_ident *id, const char *name, const char *group);

/* Start *a as a notification of `id` (zeroing it): name, state, timestamp, starts_at, ends_at
 * (-1 while firing), labels {instance}, owner "tripline", unit count, fingerprint, and the
 * transition id of (starts_at, state, seq). The caller fills metric, value, threshold, op,
 * window, severity, runbook, summary and description (and resend). *a points into *id. */
void tl_self_alert_init(tl_alert *a, const tl_self_ident *id, tl_alert_state state, int64_t timestamp_ms,
                        int64_t starts_at_ms, int64_t ends_at_ms, uint32_t seq);

/* clock_gettime in milliseconds (CLOCK_MONOTONIC for schedules, CLOCK_REALTIME for stamps). */
int64_t tl_self_clock_ms(clockid_t c);

/* ---- the overflow and checkpoint alerts ---------------------------------------------------- */

typedef struct tl_selfalert tl_selfalert;

/* NULL when cfg->self_check_ms is 0 (off), or when out of memory (logged). `out` may be NULL
 * (tests: tl_selfalert_poll only). cfg is read here and not kept. */
tl_selfalert *tl_selfalert_new(const tl_config *cfg, tl_output *out);
void tl_selfalert_destroy(tl_selfalert *sa); /* NULL: no-op */

/* Run a check if one is due: read the engine's stats, produce what it decides, log each
 * transition. Clocks read here. NULL: no-op. Main thread. */
void tl_selfalert_tick(tl_selfalert *sa, tl_engine *e);

/* What tl_selfalert_tick does, without clocks or Kafka (tests). 1 when a check is due at
 * monotonic time now_ms: the first call, then every interval after the previous one's due
 * time (or an interval after now_ms when more than one was missed: no burst). */
int tl_selfalert_due(const tl_selfalert *sa, int64_t now_ms);
/* When due, run the check on `st` as of wall-clock time epoch_ms and fill out[0..n) with the
 * notifications it decides (at most TL_SELFALERT_MAX; strings owned by sa, valid until the
 * next call); returns n. 0 without reading st when no check is due. */
uint32_t tl_selfalert_poll(tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, const tl_engine_stats *st,
                           tl_alert *out);

/* The checkpoint's engine section (checkpoint.h): save with the clocks as of now (monotonic
 * and wall clock, ms); load into sa, or parse and drop when sa is NULL (checks off in this
 * run). An alert name this build does not know is dropped. Main thread. */
struct tl_ckw;
struct tl_ckr;
void tl_selfalert_save(const tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, struct tl_ckw *w);
void tl_selfalert_load(tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, struct tl_ckr *r);

/* The ack the alerts are produced with. */
tl_ack *tl_selfalert_ack(tl_selfalert *sa);
/* 1 while the alert `name` (TL_SELF_*_ALERT) is firing. */
int tl_selfalert_firing(const tl_selfalert *sa, const char *name);

#endif
