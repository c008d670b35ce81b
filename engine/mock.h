/* engine/mock.h - the embedded Kafka cluster: librdkafka's mock brokers on 127.0.0.1.
 *
 * No Apache Kafka runs on these machines; librdkafka's mock cluster speaks the real protocol
 * over TCP, so every client (tripline's consumer and producer, kcat, the tests' producers)
 * talks to it exactly as to a real broker. `tripline demo` and the integration tests use it.
 * The cluster lives inside a dedicated rd_kafka_t handle owned by tl_mock.
 * Threading: create and destroy on one thread; the brokers run on librdkafka's threads.
 */
#ifndef TL_MOCK_H
#define TL_MOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct tl_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[256];
} tl_mock;

/* Start `brokers` mock brokers. Returns 0, or -1 with a message. */
int tl_mock_start(tl_mock *m, int brokers, char *err, size_t errcap);
/* Create a topic with `partitions` partitions (replication 1). */
int tl_mock_topic(tl_mock *m, const char *topic, int partitions);
void tl_mock_stop(tl_mock *m);

#endif
