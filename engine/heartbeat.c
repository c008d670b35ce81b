/* engine/heartbeat.c - the always-firing TriplineHeartbeat alert (see heartbeat.h).
 *
 * Invariants: `next_ms` is the monotonic time the next heartbeat is due (INT64_MIN before the
 * first); `seq` heartbeats have been built; `starts_ms` (wall clock) is fixed by the first
 * one and never changes, so every heartbeat of this process is one firing episode. The
 * identity (fingerprint, label) is built once at creation, by selfalert.c's shared helpers,
 * which every alert about tripline itself uses.
 */
#include <stdio.h>
#include <unistd.h>

#include "alloc.h"
#include "heartbeat.h"
#include "log.h"
#include "selfalert.h"
#include "timefmt.h"

struct tl_heartbeat {
    tl_output *out;
    int64_t interval_ms;
    int64_t next_ms;   /* monotonic */
    int64_t starts_ms; /* wall clock of the first heartbeat */
    uint32_t seq;
    tl_ack ack;
    tl_self_ident id; /* name, instance (the consumer group id), host, fingerprint */
    char summary[512];
    char description[1024];
};

static const char heartbeat_runbook[] =
    "Page when TriplineHeartbeat stops arriving (none for 3 heartbeat intervals), never on its presence: "
    "tripline, its Kafka output or the path from the alerts topic to the pager is down. "
    "See docs/OPERATIONS.md, Delivery guarantees.";

tl_heartbeat *tl_heartbeat_new(const tl_config *cfg, tl_output *out)
{
    if (cfg->heartbeat_ms <= 0)
        return NULL;
    tl_heartbeat *h = tl_calloc(1, sizeof *h);
    if (!h) {
        tl_log(TL_LOG_ERROR, "out of memory: the heartbeat alert (alerts.heartbeat) is off");
        return NULL;
    }
    h->out = out;
    h->interval_ms = cfg->heartbeat_ms;
    h->next_ms = INT64_MIN;
    atomic_store(&h->ack.outstanding, 0);
    tl_self_ident_init(&h->id, TL_HEARTBEAT_ALERT, cfg->group);
    snprintf(h->summary, sizeof h->summary,
             "tripline (group %s) is running: this alert always fires; page when it stops arriving", h->id.instance);
    return h;
}

void tl_heartbeat_destroy(tl_heartbeat *h) { tl_free(h); }

tl_ack *tl_heartbeat_ack(tl_heartbeat *h) { return &h->ack; }

uint32_t tl_heartbeat_sent(const tl_heartbeat *h) { return h->seq; }

int tl_heartbeat_poll(tl_heartbeat *h, int64_t now_ms, int64_t epoch_ms, tl_alert *a)
{
    if (h->next_ms != INT64_MIN && now_ms < h->next_ms)
        return 0;
    if (atomic_load(&h->ack.outstanding) > 0)
        return 0; /* the previous one is not acknowledged yet: this one waits for it */
    if (h->next_ms == INT64_MIN) {
        h->starts_ms = epoch_ms;
        h->next_ms = now_ms;
    }
    h->next_ms += h->interval_ms;
    if (h->next_ms <= now_ms) /* more than an interval missed (a stall): no burst */
        h->next_ms = now_ms + h->interval_ms;

    char every[32], since[40];
    tl_duration_format(h->interval_ms, every, sizeof every);
    tl_time_format_rfc3339(h->starts_ms, since, sizeof since);
    snprintf(h->description, sizeof h->description,
             "Dead-man's switch: tripline on host %s (pid %ld), consumer group %s, sends this alert every %s "
             "(wall clock) since %s. Route TriplineHeartbeat to a heartbeat check that pages when none has "
             "arrived for about 3 x %s.",
             h->id.host, (long)getpid(), h->id.instance, every, since, every);

    tl_self_alert_init(a, &h->id, TL_ALERT_FIRING, epoch_ms, h->starts_ms, -1, h->seq);
    a->metric = "heartbeat";
    a->value = 1;
    a->threshold = 0;
    a->unit = TL_UNIT_NONE;
    a->window_ms = h->interval_ms;
    a->severity = "info";
    a->runbook = heartbeat_runbook;
    a->summary = h->summary;
    a->description = h->description;
    h->seq++;
    return 1;
}

void tl_heartbeat_tick(tl_heartbeat *h)
{
    if (!h)
        return;
    tl_alert a;
    if (!tl_heartbeat_poll(h, tl_self_clock_ms(CLOCK_MONOTONIC), tl_self_clock_ms(CLOCK_REALTIME), &a))
        return;
    if (h->seq == 1)
        tl_log(TL_LOG_INFO, "heartbeat: %s (fingerprint %s, instance=%s) every %lld ms to the alerts topic",
               TL_HEARTBEAT_ALERT, h->id.fingerprint, h->id.instance, (long long)h->interval_ms);
    if (h->out && tl_output_alert(h->out, &a, &h->ack) < 0)
        tl_log(TL_LOG_ERROR, "heartbeat: could not produce %s", TL_HEARTBEAT_ALERT);
}
