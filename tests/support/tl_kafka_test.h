/* tests/support/tl_kafka_test.h - helpers for integration tests on the mock cluster: starting
 * one with its topics and ending a fixture that owns one, an outside producer client, reading
 * a topic back to its end (with headers), committed offsets of a group, and running an engine
 * over it to the end of its input. All clients here are separate librdkafka instances, as an
 * outside program (kcat, a paging consumer) would be. */
#ifndef TL_KAFKA_TEST_H
#define TL_KAFKA_TEST_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "mock.h"

typedef struct tl_kt_msg {
    int32_t partition;
    int64_t offset;
    char *key;
    size_t key_len;
    char *value;
    size_t len;
    char hdr_topic[128], hdr_partition[16], hdr_offset[24], hdr_code[64], hdr_error[256];
} tl_kt_msg;

typedef struct tl_kt_msgs {
    tl_kt_msg *m;
    size_t n;
} tl_kt_msgs;

/* Producer with the given properties NULL-terminated pairs (may be NULL). */
rd_kafka_t *tl_kt_producer(const char *brokers);
void tl_kt_produce(rd_kafka_t *p, const char *topic, const void *key, size_t klen, const void *val, size_t len);
/* The same, to one partition. */
void tl_kt_produce_to(rd_kafka_t *p, const char *topic, int32_t partition, const void *key, size_t klen,
                      const void *val, size_t len);
void tl_kt_flush_destroy(rd_kafka_t *p);

/* Read every partition of topic from the beginning to its end. */
tl_kt_msgs tl_kt_read_all(const char *brokers, const char *topic, int partitions);
void tl_kt_msgs_free(tl_kt_msgs *m);

/* Start a mock cluster of `brokers` brokers with the topics of spec, "name:partitions ..."
 * (e.g. "traces:4 alerts:2 dlq:1"). 0, or -1 with the cause on stderr (m is then stopped). */
int tl_kt_mock_start(tl_mock *m, int brokers, const char *spec);
/* The end of a fixture that owns a mock cluster and a temporary rules file: stop the one,
 * remove the other, free the fixture. Returns 0, for a cmocka teardown to return. */
int tl_kt_fixture_end(void *fixture, tl_mock *m, const char *rules_path);

/* Run an engine to the end of its input (the flags must include --exit-at-end): settings from
 * the YAML text `yaml` (NULL: none), then the flags, then the rules they name. Fails the test
 * with the cause on any error; the engine's stats at the end go to *st. */
void tl_kt_run_engine(const char *yaml, int argc, char **argv, tl_engine_stats *st);

/* Sum over partitions of (committed offset of group) and of (high watermark). */
void tl_kt_committed(const char *brokers, const char *group, const char *topic, int partitions,
                     int64_t *committed_sum, int64_t *end_sum);

#endif
