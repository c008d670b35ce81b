/* engine/heartbeat.c - the always-firing TriplineHeartbeat alert (see heartbeat.h).
 *
 * Invariants: `next_ms` is the monotonic time the next heartbeat is due (INT64_MIN before the
 * first); `seq` heartbeats have been built; `starts_ms` (wall clock) is fixed by the first
 * one and never changes, so every heartbeat of this process is one firing episode. The
 * fingerprint input and label strings are built once at creation.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "heartbeat.h"
#include "log.h"
#include "timefmt.h"

struct tl_heartbeat {
    tl_output *out;
    int64_t interval_ms;
    int64_t next_ms;   /* monotonic */
    int64_t starts_ms; /* wall clock of the first heartbeat */
    uint32_t seq;
    uint64_t fp;
    tl_ack ack;
    char instance[TL_ALERT_LABEL_MAX + 1]; /* the consumer group id */
    char host[128];
    char fingerprint[17];
    char summary[512];
    char description[1024];
};

static const char heartbeat_runbook[] =
    "Page when TriplineHeartbeat stops arriving (none for 3 heartbeat intervals), never on its presence: "
    "tripline, its Kafka output or the path from the alerts topic to the pager is down. "
    "See docs/OPERATIONS.md, Delivery guarantees.";

static int64_t clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    snprintf(h->instance, sizeof h->instance, "%s", cfg->group ? cfg->group : "");
    if (gethostname(h->host, sizeof h->host) != 0)
        snprintf(h->host, sizeof h->host, "unknown");
    h->host[sizeof h->host - 1] = '\0';
    /* the same fingerprint input as a rule alert (shard.c): name, NUL, label values */
    char fpin[sizeof TL_HEARTBEAT_ALERT + sizeof h->instance];
    size_t nl = sizeof TL_HEARTBEAT_ALERT, il = strlen(h->instance);
    memcpy(fpin, TL_HEARTBEAT_ALERT, nl); /* with its NUL */
    memcpy(fpin + nl, h->instance, il);
    tl_alert a;
    memset(&a, 0, sizeof a);
    h->fp = tl_alert_set_fingerprint(&a, fpin, nl + il);
    memcpy(h->fingerprint, a.fingerprint, sizeof h->fingerprint);
    snprintf(h->summary, sizeof h->summary,
             "tripline (group %s) is running: this alert always fires; page when it stops arriving", h->instance);
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
             h->host, (long)getpid(), h->instance, every, since, every);

    memset(a, 0, sizeof *a);
    a->alert = TL_HEARTBEAT_ALERT;
    a->state = TL_ALERT_FIRING;
    a->timestamp_ms = epoch_ms;
    a->metric = "heartbeat";
    a->value = 1;
    a->threshold = 0;
    a->op = ">";
    a->unit = TL_UNIT_NONE;
    a->window_ms = h->interval_ms;
    a->severity = "info";
    a->owner = "tripline";
    a->runbook = heartbeat_runbook;
    a->summary = h->summary;
    a->description = h->description;
    memcpy(a->fingerprint, h->fingerprint, sizeof a->fingerprint);
    a->starts_at_ms = h->starts_ms;
    a->ends_at_ms = -1;
    a->n_labels = 1;
    a->label_key[0] = "instance";
    a->label_val[0] = h->instance;
    tl_alert_set_transition_id(a, h->fp, h->starts_ms, h->seq);
    h->seq++;
    return 1;
}

void tl_heartbeat_tick(tl_heartbeat *h)
{
    if (!h)
        return;
    tl_alert a;
    if (!tl_heartbeat_poll(h, clock_ms(CLOCK_MONOTONIC), clock_ms(CLOCK_REALTIME), &a))
        return;
    if (h->seq == 1)
        tl_log(TL_LOG_INFO, "heartbeat: %s (fingerprint %s, instance=%s) every %lld ms to the alerts topic",
               TL_HEARTBEAT_ALERT, h->fingerprint, h->instance, (long long)h->interval_ms);
    if (h->out && tl_output_alert(h->out, &a, &h->ack) < 0)
        tl_log(TL_LOG_ERROR, "heartbeat: could not produce %s", TL_HEARTBEAT_ALERT);
}
