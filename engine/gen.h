/* engine/gen.h - drive the synthetic fleet (fleet.h) into Kafka at a paced rate.
 *
 * Used by `tripline gen` (against any brokers), `tripline demo` (against the embedded mock
 * cluster), integration tests and benches. Pacing is by event time: an event with event
 * time t is produced at wall time start_wall + (t - start_ms) / speed, so `speed` compresses
 * a scenario (the demo plays 95 minutes of incidents in about two), after an optional history
 * produced at a fixed wall rate (the demo's 7-day baseline). Messages are keyed by trace id
 * so a trace stays on one partition.
 *
 * Threading: tl_gen_run blocks in the calling thread until done or *stop becomes non-zero.
 */
#ifndef TL_GEN_H
#define TL_GEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum tl_gen_format { TL_GEN_JSON = 0, TL_GEN_AVRO = 1, TL_GEN_AVRO_RAW = 2, TL_GEN_MIXED = 3 } tl_gen_format;

typedef struct tl_gen_opts {
    const char *brokers;
    const char *topic;
    tl_gen_format format;   /* MIXED alternates JSON and framed Avro */
    double speed;           /* event time per wall time; <= 0: as fast as possible */
    double traces_per_sec;  /* event-time trace arrival rate (default 20) */
    int64_t start_ms;       /* event time of the first trace (default: now - scenario length) */
    int64_t duration_ms;    /* of event time; 0 = the scenario's length, or forever if none */
    int64_t history_ms;     /* event time of quiet history before the scenario (fleet.h), produced
                               at history_rate events/s of wall time instead of `speed` */
    double history_rate;    /* default 50000 */
    uint64_t max_events;    /* 0 = no limit */
    int scenario;           /* enum tl_fleet_scenario */
    int n_services;
    uint64_t seed;
    uint64_t malformed_every; /* also send a malformed message every N events (0 = never) */
    const tl_kv *props;     /* extra librdkafka producer properties */
    size_t nprops;
    _Atomic int *stop;      /* optional */
    int quiet;              /* no progress lines */
} tl_gen_opts;

typedef struct tl_gen_result {
    uint64_t events;
    uint64_t malformed;
    uint64_t failed;       /* not delivered */
    int64_t first_ms, last_ms; /* event time range */
    double wall_seconds;
} tl_gen_result;

int tl_gen_run(const tl_gen_opts *opts, tl_gen_result *res, char *err, size_t errcap);

#endif
