/* engine/output.h - the producer side: alert events and dead-letter copies.
 *
 * One idempotent librdkafka producer serves every worker (rd_kafka_producev is thread-safe).
 * Each produced message carries a tl_ack: the count of its owner's messages not yet
 * acknowledged by the broker. The owner (a worker's evaluation pass, or a consumed batch for
 * dead letters) must not let its input offsets be stored until its count is back to zero.
 *
 * A message whose delivery fails (after librdkafka's own retries, i.e. after
 * message.timeout.ms) is not dropped: it is kept and produced again with backoff, and its
 * ack stays outstanding, so the input offsets stall instead of an alert being lost.
 *
 * Threading: tl_output_alert/tl_output_dead_letter from any thread; tl_output_poll from one
 * thread (the engine's main thread), where delivery reports are handled.
 */
#ifndef TL_OUTPUT_H
#define TL_OUTPUT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"

typedef struct tl_ack {
    _Atomic int64_t outstanding;
} tl_ack;

typedef struct tl_output tl_output;

typedef struct tl_output_stats {
    uint64_t alerts, alerts_acked, dlq, dlq_acked, failed_attempts;
    uint64_t retry_queue; /* messages waiting to be produced again */
} tl_output_stats;

tl_output *tl_output_new(const tl_config *cfg, char *err, size_t errcap);
void tl_output_destroy(tl_output *o);

/* Encode (cfg output format) and produce with the fingerprint as key. 0, or -1 if the alert
 * does not encode (too large). */
int tl_output_alert(tl_output *o, const tl_alert *a, tl_ack *ack);

/* Copy a malformed message to the dead-letter topic with headers tripline.source.topic,
 * tripline.source.partition, tripline.source.offset, tripline.error.code, tripline.error. */
int tl_output_dead_letter(tl_output *o, const rd_kafka_message_t *m, const char *code, const char *reason,
                          tl_ack *ack);

/* Serve delivery reports and due retries. */
void tl_output_poll(tl_output *o, int timeout_ms);
/* Messages not yet acknowledged (in flight plus retry queue). */
size_t tl_output_pending(tl_output *o);
void tl_output_stats_get(tl_output *o, tl_output_stats *out);

/* Apply -X style properties to a librdkafka config; -1 with message on a bad property.
 * Values of secret properties (tl_config_prop_is_secret) are registered with tl_log as
 * secrets and shown as "[redacted]" in the message; the config's log callback is set so
 * that librdkafka's own log lines go through tl_log (and its redaction) instead of straight
 * to stderr. Every client built from user properties therefore keeps secrets out of logs. */
int tl_kafka_conf_set(rd_kafka_conf_t *conf, const tl_kv *kv, size_t n, char *err, size_t errcap);

#endif
