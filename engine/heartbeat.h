/* engine/heartbeat.h - the dead-man's switch: an alert that is always firing.
 *
 * Why: every other alert says something went wrong; none says tripline itself stopped. A
 * crashed or wedged engine, a broker it can no longer write to, or a broken path from the
 * alerts topic to the pager all look like a quiet, healthy fleet. With alerts.heartbeat
 * (--heartbeat DUR) set, tripline produces the alert TriplineHeartbeat every DUR of wall
 * clock, and the downstream paging system is configured to page when it STOPS arriving
 * (Prometheus's Watchdog alert, an Alertmanager/PagerDuty/Opsgenie heartbeat check).
 *
 * The alert: name TriplineHeartbeat, state firing, severity "info" (never page on its
 * presence), labels {instance: the consumer group id} (so the fingerprint is stable across
 * restarts and machines; several processes of one group send the same fingerprint, and it
 * keeps arriving while any of them is alive, as the group keeps consuming), metric
 * "heartbeat" with value 1 > 0, window = the interval, owner "tripline", a runbook and
 * summary that say to page on its absence, and a description naming the host and pid.
 * timestamp is the wall-clock time of the send (other alerts carry event time).
 *
 * Identity (alert.h, built with selfalert.h's shared helpers, as for every alert about
 * tripline itself): fingerprint from the name and the label set as for rule alerts; one
 * firing episode since this process's first heartbeat (starts_at), each send a new
 * notification (sequence 0, 1, 2, ...), so every heartbeat has its own transition_id and a
 * redelivery repeats it.
 *
 * Delivery: through output.c like every alert (the idempotent producer, kept and produced
 * again until acknowledged), with an ack of its own that no input offset waits for. At most
 * one heartbeat is in flight: a due heartbeat waits for the previous one's acknowledgement,
 * so a broker outage leaves one heartbeat to deliver, not a backlog of stale ones, and the
 * next one goes out as soon as the broker is back. Not printed with --print-alerts.
 *
 * Threading: the engine's main thread only (tl_heartbeat_tick next to tl_output_poll, which
 * serves the delivery reports that decrement the ack on that same thread).
 * Ownership: holds `out` without owning it; destroy the heartbeat after tl_output_destroy(),
 * whose final flush still reports deliveries against the heartbeat's ack.
 */
#ifndef TL_HEARTBEAT_H
#define TL_HEARTBEAT_H

#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "output.h"

#define TL_HEARTBEAT_ALERT "TriplineHeartbeat"

typedef struct tl_heartbeat tl_heartbeat;

/* NULL when cfg->heartbeat_ms is 0 (off), or when out of memory (logged). `out` may be NULL
 * (tests: tl_heartbeat_poll only). cfg is read here and not kept. */
tl_heartbeat *tl_heartbeat_new(const tl_config *cfg, tl_output *out);
void tl_heartbeat_destroy(tl_heartbeat *h); /* NULL: no-op */

/* Produce a heartbeat if one is due (clocks read here). NULL: no-op. Main thread. */
void tl_heartbeat_tick(tl_heartbeat *h);

/* What tl_heartbeat_tick does, without clocks or Kafka (tests). 1 when a heartbeat is due at
 * monotonic time now_ms (the first call always is; then every interval after the previous
 * one's due time, or `interval` after now_ms when more than one interval was missed) and the
 * previous one is acknowledged: fills *a as of wall-clock time epoch_ms (strings owned by h,
 * valid until the next call) and counts it as sent. 0 otherwise. */
int tl_heartbeat_poll(tl_heartbeat *h, int64_t now_ms, int64_t epoch_ms, tl_alert *a);
/* The ack heartbeats are produced with (outstanding > 0: one is in flight). */
tl_ack *tl_heartbeat_ack(tl_heartbeat *h);
/* Heartbeats built so far. */
uint32_t tl_heartbeat_sent(const tl_heartbeat *h);

#endif
