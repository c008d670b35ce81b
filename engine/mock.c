/* engine/mock.c - embedded mock Kafka cluster (see mock.h). */
#include <stdio.h>
#include <string.h>

#include "mock.h"

int tl_mock_start(tl_mock *m, int brokers, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    /* the hosting handle never connects anywhere itself */
    rd_kafka_conf_set(conf, "bootstrap.servers", "", e, sizeof e);
    rd_kafka_conf_set(conf, "log_level", "3", e, sizeof e);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!m->rk) {
        snprintf(err, errcap, "cannot create mock cluster host: %s", e);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        snprintf(err, errcap, "cannot start %d mock brokers", brokers);
        rd_kafka_destroy(m->rk);
        m->rk = NULL;
        return -1;
    }
    snprintf(m->bootstraps, sizeof m->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
    return 0;
}

int tl_mock_topic(tl_mock *m, const char *topic, int partitions)
{
    return rd_kafka_mock_topic_create(m->mc, topic, partitions, 1) ? -1 : 0;
}

void tl_mock_stop(tl_mock *m)
{
    if (m->mc)
        rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    memset(m, 0, sizeof *m);
}
