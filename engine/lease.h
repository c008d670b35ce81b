/* engine/lease.h - which of several instances is the active one (ha.mode: standby).
 *
 * Why: series are owned inside one process (a series spans partitions), so two instances
 * reading one input group would each see part of every series: rates halved, alerts split or
 * missed. Instead of splitting the input, instances elect one active instance, which reads
 * every partition, and the others wait as standbys with nothing loaded. When the active one
 * stops, dies or is cut off, a standby takes over: it restores the last checkpoint (from the
 * compacted state topic, state.store: kafka, or a shared state.dir) and resumes at the offsets
 * that checkpoint reflects. Nothing is counted twice, because state and offsets move together,
 * and nothing is lost, because the offsets were committed only once that state was durable.
 *
 * The election is Kafka's own group protocol: every instance joins the group "<group>.lease"
 * on the topic ha.lease_topic (auto-created if the cluster allows it; any partition count), and
 * the member assigned partition 0 is the active one. Kafka then detects dead members (session
 * timeout), and nothing else is needed: no extra service, no clock.
 *
 * Fencing: when partition 0 is revoked (a member joined or left, or our session expired), the
 * revocation is not acknowledged (rd_kafka_assign(NULL)) until tl_lease_release() is called,
 * which the caller does after its engine has stopped: final checkpoint written, offsets
 * committed, input consumer closed. The group cannot complete the rebalance before that, so no
 * other instance becomes active while this one still reads. (After a session expiry the group
 * has moved on already; the engine stops as fast as it can, and what it produced meanwhile
 * repeats transitions with the same identity.)
 *
 * Rebalances are eager (range), so any membership change revokes the lease and may move it:
 * the handover costs a final checkpoint here and a restore there, a few seconds, with alerts
 * unchanged. librdkafka 2.0.2's cooperative-sticky, which would keep it in place, has known hang
 * bugs (docs/OPERATIONS.md).
 *
 * Threading: one thread (the caller's main thread) for every call.
 */
#ifndef TL_LEASE_H
#define TL_LEASE_H

#include <stddef.h>

#include "config.h"

typedef struct tl_lease tl_lease;

enum { TL_LEASE_WAITING = 0, TL_LEASE_HELD = 1, TL_LEASE_LOST = 2 };

/* A consumer in the lease group, subscribed. NULL with err. */
tl_lease *tl_lease_new(const tl_config *cfg, char *err, size_t errcap);

/* Serve the group for up to timeout_ms. TL_LEASE_HELD while this instance is the active one,
 * TL_LEASE_LOST once that was revoked (until tl_lease_release), else TL_LEASE_WAITING. */
int tl_lease_poll(tl_lease *l, int timeout_ms);

/* Acknowledge a revocation (after the engine stopped), so the group can move the lease. */
void tl_lease_release(tl_lease *l);

/* Leave the group (releasing first) and free. NULL is fine. */
void tl_lease_destroy(tl_lease *l);

#endif
