/* engine/lease.c - the active instance is the lease group's owner of partition 0 (lease.h). */
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "alloc.h"
#include "lease.h"
#include "log.h"
#include "output.h"

struct tl_lease {
    rd_kafka_t *rk;
    char *topic;
    int held;            /* partition 0 is ours */
    int revoke_pending;  /* it was revoked; the group waits for tl_lease_release */
    int closing;         /* in tl_lease_destroy: acknowledge at once */
};

static int has_partition0(const rd_kafka_topic_partition_list_t *parts, const char *topic)
{
    for (int i = 0; parts && i < parts->cnt; i++)
        if (parts->elems[i].partition == 0 && strcmp(parts->elems[i].topic, topic) == 0)
            return 1;
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tl_lease *l = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        if (has_partition0(parts, l->topic)) {
            l->held = 1;
            tl_log(TL_LOG_INFO, "lease: this instance is the active one");
        } else {
            tl_log(TL_LOG_INFO, "lease: standing by (another instance is active)");
        }
        return;
    }
    if (!l->held || l->closing) {
        rd_kafka_assign(rk, NULL);
        return;
    }
    /* ours is revoked: hold the group's rebalance until the engine has stopped */
    l->held = 0;
    l->revoke_pending = 1;
    tl_log(TL_LOG_INFO, "lease: revoked%s; stopping before handing over",
           rd_kafka_assignment_lost(rk) ? " (our session expired: the group has moved on)" : "");
}

tl_lease *tl_lease_new(const tl_config *cfg, char *err, size_t errcap)
{
    tl_lease *l = tl_calloc(1, sizeof *l);
    char group[512];
    snprintf(group, sizeof group, "%s.lease", cfg->group);
    if (!l || !(l->topic = tl_strdup(cfg->lease_topic))) {
        snprintf(err, errcap, "out of memory");
        tl_lease_destroy(l);
        return NULL;
    }
    /* after the user's properties: these make the election what lease.h says it is */
    static const tl_kv fixed[] = {
        {"enable.auto.commit", "false"}, /* nothing is read from the lease topic */
        {"enable.partition.eof", "false"},
        {"allow.auto.create.topics", "true"},
        {"partition.assignment.strategy", "range"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256] = "";
    err[0] = '\0';
    if (tl_kafka_conf_set(conf, cfg->kafka, cfg->n_kafka, err, errcap) < 0 ||
        tl_kafka_conf_set(conf, cfg->consumer, cfg->n_consumer, err, errcap) < 0 ||
        tl_kafka_conf_set(conf, fixed, sizeof fixed / sizeof fixed[0], err, errcap) < 0 ||
        rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, kerr, sizeof kerr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
        if (!err[0])
            snprintf(err, errcap, "lease consumer config: %s", kerr);
        rd_kafka_conf_destroy(conf);
        tl_lease_destroy(l);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, l);
    if (!(l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr))) {
        snprintf(err, errcap, "lease consumer: %s", kerr);
        tl_log_redact(err, errcap);
        rd_kafka_conf_destroy(conf);
        tl_lease_destroy(l);
        return NULL;
    }
    rd_kafka_poll_set_consumer(l->rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, l->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(l->rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (e) {
        snprintf(err, errcap, "lease group %s: subscribe to %s: %s", group, l->topic, rd_kafka_err2str(e));
        tl_lease_destroy(l);
        return NULL;
    }
    tl_log(TL_LOG_INFO, "lease: joining group %s on topic %s", group, l->topic);
    return l;
}

int tl_lease_poll(tl_lease *l, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, timeout_ms);
    if (m) {
        if (m->err)
            tl_log(TL_LOG_WARN, "lease: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m); /* nothing is meant to be produced to the lease topic */
    }
    return l->revoke_pending ? TL_LEASE_LOST : l->held ? TL_LEASE_HELD : TL_LEASE_WAITING;
}

void tl_lease_release(tl_lease *l)
{
    if (!l || !l->revoke_pending)
        return;
    rd_kafka_assign(l->rk, NULL); /* lets the group's rebalance go on */
    l->revoke_pending = 0;
    tl_log(TL_LOG_INFO, "lease: released");
}

void tl_lease_destroy(tl_lease *l)
{
    if (!l)
        return;
    if (l->rk) {
        tl_lease_release(l);
        l->closing = 1;
        rd_kafka_consumer_close(l->rk); /* leaves the group: a standby takes over at once */
        if (l->held)
            tl_log(TL_LOG_INFO, "lease: released (left the group)");
        rd_kafka_destroy(l->rk);
    }
    tl_free(l->topic);
    tl_free(l);
}
