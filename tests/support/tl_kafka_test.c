/* tests/support/tl_kafka_test.c - mock-cluster, outside-client and engine-run helpers for
 * integration tests (see tl_kafka_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "config.h"
#include "tl_kafka_test.h"

rd_kafka_t *tl_kt_producer(const char *brokers)
{
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(c, "linger.ms", "2", e, sizeof e);
    rd_kafka_conf_set(c, "log_level", "3", e, sizeof e);
    return rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
}

void tl_kt_produce_to(rd_kafka_t *p, const char *topic, int32_t partition, const void *key, size_t klen,
                      const void *val, size_t len)
{
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_VALUE((void *)val, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
    rd_kafka_poll(p, 0);
}

void tl_kt_produce(rd_kafka_t *p, const char *topic, const void *key, size_t klen, const void *val, size_t len)
{
    tl_kt_produce_to(p, topic, RD_KAFKA_PARTITION_UA, key, klen, val, len);
}

void tl_kt_flush_destroy(rd_kafka_t *p)
{
    rd_kafka_flush(p, 30000);
    rd_kafka_destroy(p);
}

static void hdr(rd_kafka_headers_t *h, const char *name, char *out, size_t cap)
{
    const void *v;
    size_t n;
    out[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, cap, "%.*s", (int)n, (const char *)v);
}

tl_kt_msgs tl_kt_read_all(const char *brokers, const char *topic, int partitions)
{
    tl_kt_msgs out = {0};
    size_t cap = 0;
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(c, "group.id", "tl-test-reader", e, sizeof e);
    rd_kafka_conf_set(c, "enable.partition.eof", "true", e, sizeof e);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof e);
    rd_kafka_conf_set(c, "log_level", "3", e, sizeof e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* done when every partition is at its end; a partition can report its end more than once
     * (after a fetch error and a refetch), so count partitions, not end-of-partition events */
    int eofs = 0, idle = 0;
    char *at_end = calloc(partitions > 0 ? (size_t)partitions : 1, 1);
    while (eofs < partitions && idle < 200) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < partitions && !at_end[m->partition]) {
                at_end[m->partition] = 1;
                eofs++;
            }
        } else if (!m->err) {
            if (m->partition >= 0 && m->partition < partitions && at_end[m->partition]) {
                at_end[m->partition] = 0; /* more arrived after its end */
                eofs--;
            }
            if (out.n == cap) {
                cap = cap ? cap * 2 : 64;
                out.m = realloc(out.m, cap * sizeof *out.m);
            }
            tl_kt_msg *x = &out.m[out.n++];
            memset(x, 0, sizeof *x);
            x->partition = m->partition;
            x->offset = m->offset;
            x->key = malloc(m->key_len + 1);
            memcpy(x->key, m->key ? m->key : "", m->key_len);
            x->key[m->key_len] = '\0';
            x->key_len = m->key_len;
            x->value = malloc(m->len + 1);
            memcpy(x->value, m->payload ? m->payload : "", m->len);
            x->value[m->len] = '\0';
            x->len = m->len;
            rd_kafka_headers_t *h = NULL;
            rd_kafka_message_headers(m, &h);
            hdr(h, "tripline.source.topic", x->hdr_topic, sizeof x->hdr_topic);
            hdr(h, "tripline.source.partition", x->hdr_partition, sizeof x->hdr_partition);
            hdr(h, "tripline.source.offset", x->hdr_offset, sizeof x->hdr_offset);
            hdr(h, "tripline.error.code", x->hdr_code, sizeof x->hdr_code);
            hdr(h, "tripline.error", x->hdr_error, sizeof x->hdr_error);
        }
        rd_kafka_message_destroy(m);
    }
    free(at_end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

void tl_kt_msgs_free(tl_kt_msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->m[i].key);
        free(m->m[i].value);
    }
    free(m->m);
    memset(m, 0, sizeof *m);
}

void tl_kt_committed(const char *brokers, const char *group, const char *topic, int partitions, int64_t *committed_sum,
                     int64_t *end_sum)
{
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(c, "group.id", group, e, sizeof e);
    rd_kafka_conf_set(c, "log_level", "3", e, sizeof e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    rd_kafka_committed(rk, l, 10000);
    *committed_sum = 0;
    *end_sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        if (l->elems[p].offset > 0)
            *committed_sum += l->elems[p].offset;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            *end_sum += hi;
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

int tl_kt_mock_start(tl_mock *m, int brokers, const char *spec)
{
    char err[256];
    if (tl_mock_start(m, brokers, err, sizeof err) < 0) {
        fprintf(stderr, "tl_kt_mock_start: %s\n", err);
        return -1;
    }
    for (const char *s = spec; *s;) {
        char name[128];
        int parts, used;
        if (sscanf(s, " %127[^: ]:%d%n", name, &parts, &used) != 2 || parts < 1) {
            fprintf(stderr, "tl_kt_mock_start: bad topic spec at '%s'\n", s);
            tl_mock_stop(m);
            return -1;
        }
        if (tl_mock_topic(m, name, parts) != 0) {
            fprintf(stderr, "tl_kt_mock_start: cannot create topic %s\n", name);
            tl_mock_stop(m);
            return -1;
        }
        s += used;
        while (*s == ' ')
            s++;
    }
    return 0;
}

int tl_kt_fixture_end(void *fixture, tl_mock *m, const char *rules_path)
{
    tl_mock_stop(m);
    if (rules_path && rules_path[0])
        unlink(rules_path);
    free(fixture);
    return 0;
}

void tl_kt_run_engine(const char *yaml, int argc, char **argv, tl_engine_stats *st)
{
    tl_config cfg;
    tl_config_init(&cfg);
    char err[512];
    if (yaml && tl_config_load_string(&cfg, "test.yaml", yaml, strlen(yaml), err, sizeof err) < 0)
        fail_msg("config: %s", err);
    if (tl_config_apply_args(&cfg, argc, argv, err, sizeof err) < 0 || tl_config_validate(&cfg, err, sizeof err) < 0)
        fail_msg("flags: %s", err);
    tl_program *prog = tl_cli_load_rules(&cfg);
    assert_non_null(prog);
    tl_engine *e = tl_engine_new(&cfg, prog, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    assert_int_equal(tl_engine_run(e), 0);
    tl_engine_stats_get(e, st);
    tl_engine_destroy(e);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
}
