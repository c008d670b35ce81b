/* engine/engine.h - the whole pipeline: Kafka in, windows and rules, alerts out.
 *
 * Threads (docs/ARCHITECTURE.md has the picture):
 *  - the caller's thread runs tl_engine_run(): it polls the consumer for rebalances and
 *    errors, polls the producer for delivery reports, retries failed deliveries, prints
 *    stats, and decides when to stop;
 *  - `threads` workers each consume the partitions forwarded to their queue, decode, filter
 *    and route events, apply the contributions they own, ship the others to their owners
 *    through SPSC rings, evaluate rules for the series they own, and produce alerts.
 *
 * At-least-once: a worker stores an input offset only after (1) the event's contributions
 * were applied by every owner, (2) the evaluation that followed ran, (3) every alert that
 * evaluation produced and every dead-letter copy from the batch was acknowledged by the
 * broker. Auto-commit then commits stored offsets; shutdown commits synchronously.
 */
#ifndef TL_ENGINE_H
#define TL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "program.h"

typedef struct tl_engine tl_engine;

typedef struct tl_engine_stats {
    uint64_t messages;      /* consumed */
    uint64_t events;        /* decoded */
    uint64_t malformed;     /* sent to the dead-letter topic */
    uint64_t late;          /* contributions older than the allowed lateness */
    uint64_t holds;         /* messages held back because their partition ran ahead of the
                               watermark by more than max_lead (event-time alignment) */
    uint64_t alerts;        /* alert events produced (acknowledged or not) */
    uint64_t alerts_acked;
    uint64_t dlq_acked;
    uint64_t delivery_retries;
    uint64_t series;
    uint64_t overflowed;
    uint64_t capped;        /* alert instances refused by a rule's max_instances */
    uint64_t future_clamped;  /* events whose timestamp was more than limits.max_future ahead
                                 of the wall clock, clamped (future_timestamps: clamp) */
    uint64_t future_rejected; /* ... rejected instead (reject; also counted in malformed) */
    uint64_t reloads, reload_failures;
    uint64_t checkpoints;         /* written (state.dir) */
    uint64_t checkpoint_failures; /* failed writes (disk full, I/O error); also deferred ones */
    int64_t checkpoint_ms;        /* how long the last one paused the workers */
    uint64_t checkpoint_bytes;    /* size of the last one */
    int degraded;                 /* the last checkpoint attempt failed: state is not being saved */
    int64_t watermark;      /* event time, ms */
    int partitions;         /* input partitions currently assigned to this instance */
    uint64_t input_gaps;          /* partitions found resuming below the oldest retained offset */
    uint64_t input_gap_messages;  /* ... the messages deleted before they were read */
    uint64_t split_assignments;   /* assignments with part of an input topic's partitions: another
                                     instance shares the group (a deployment mistake) */
    uint64_t consumes;            /* consume calls that returned messages: messages / consumes is
                                     the batch size the client delivers */
    uint64_t ring_waits;          /* times a worker waited for room in a full ring to another
                                     worker (an owner falling behind) */
} tl_engine_stats;

/* The librdkafka consumer properties the engine sets before the user's (-X, config), so that
 * a baseline consumer (bench/bench_e2e.c) can use exactly the same configuration. */
const tl_kv *tl_engine_consumer_defaults(size_t *n);

/* Called for every alert as it is produced (from a worker thread). Optional. */
typedef void (*tl_engine_alert_fn)(void *ctx, const tl_alert *a);

/* Create. Takes nothing over: cfg and prog must outlive the engine. */
tl_engine *tl_engine_new(const tl_config *cfg, const tl_program *prog, char *err, size_t errcap);
void tl_engine_on_alert(tl_engine *e, tl_engine_alert_fn fn, void *ctx);
/* Called on the main thread every round of tl_engine_run (about every 10 ms); a nonzero
 * return stops the engine as tl_engine_stop does. Optional; cmd_run.c polls the lease with it
 * (lease.h), which must be served while the engine runs. */
typedef int (*tl_engine_tick_fn)(void *ctx);
void tl_engine_on_tick(tl_engine *e, tl_engine_tick_fn fn, void *ctx);
/* Run until stopped (signal, tl_engine_stop, or --exit-at-end). Returns 0 on a clean stop,
 * 1 on a fatal Kafka error. */
int tl_engine_run(tl_engine *e);
/* Reload the rule files (SIGHUP): an invalid set is logged and counted and the running rules
 * stay; a valid one replaces them, keeping the windows and alert state of unchanged rules.
 * Async-signal-safe (the reload happens on the engine's main thread). */
void tl_engine_request_reload(tl_engine *e);
/* Ask to stop: drain, deliver, store offsets, commit. Async-signal-safe. */
void tl_engine_stop(tl_engine *e);
/* From now on, stop once every assigned partition is at its end (as --exit-at-end). */
void tl_engine_exit_at_end(tl_engine *e);
void tl_engine_stats_get(tl_engine *e, tl_engine_stats *out);
void tl_engine_destroy(tl_engine *e);

#endif
