/* tests/integration/test_alignment.c - event-time alignment through the whole engine on the
 * mock cluster: a partition that runs ahead of the watermark is held back in memory, then
 * released in order, and nothing is lost, folded twice or folded as another message.
 *
 * Why a test of its own: holding back only happens when partitions disagree about event time
 * (a replayed backlog, a lagging producer), which the other pipeline tests avoid on purpose. The
 * release path decodes a held message again (or for the first time, if it arrived while its
 * partition was already holding), and a mistake there is silent: the counts still add up if a
 * released message folds the event of another message still in the decoder's buffer.
 *
 * The input: partition 0 holds service "slow", one tool call per second for 20 minutes from
 * T0; partition 1 holds service "fast", ten per second for the last 5 of those minutes, with
 * undecodable messages among them. max_lead is 1 minute, so most of partition 1 arrives more
 * than a minute ahead of partition 0's event time and waits. Checks:
 *  - stats: every valid event decoded and folded once, every bad one dead-lettered once, none
 *    late, some held back; the group's offsets reach the end;
 *  - windows: a 1-minute count of "fast" reaches exactly 600 (ten per second) and never more,
 *    and one of "slow" reaches exactly 60: a lost, doubled or misattributed message breaks one
 *    of the three rules below.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "avro_encode.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "json_encode.h"
#include "mock.h"
#include "rules.h"
#include "tl_kafka_test.h"
#include "tl_test.h"

#define SEC 1000LL
#define MIN 60000LL
#define N_SLOW 1200 /* partition 0: 1/s for 20 minutes */
#define N_FAST 3000 /* partition 1: 10/s for 5 minutes, from T0 + 15 min */
#define N_BAD 5     /* undecodable, among partition 1's messages */

static const char rules_yaml[] =
    "rules:\n"
    "  - name: FastFull\n"
    "    filter: service == \"fast\"\n"
    "    group_by: [service]\n"
    "    value: count()\n"
    "    window: 1m\n"
    "    threshold: \">= 600\"\n"
    "    severity: info\n"
    "    owner: tests\n"
    "    runbook: https://runbooks.example/alignment\n"
    "    summary: \"{{value}} events in 1m on {{service}}\"\n"
    "  - name: FastOver\n"
    "    filter: service == \"fast\"\n"
    "    group_by: [service]\n"
    "    value: count()\n"
    "    window: 1m\n"
    "    threshold: \"> 600\"\n"
    "    severity: info\n"
    "    owner: tests\n"
    "    runbook: https://runbooks.example/alignment\n"
    "    summary: \"{{value}} events in 1m on {{service}}\"\n"
    "  - name: SlowFull\n"
    "    filter: service == \"slow\"\n"
    "    group_by: [service]\n"
    "    value: count()\n"
    "    window: 1m\n"
    "    threshold: \">= 60\"\n"
    "    severity: info\n"
    "    owner: tests\n"
    "    runbook: https://runbooks.example/alignment\n"
    "    summary: \"{{value}} events in 1m on {{service}}\"\n";

typedef struct fixture {
    tl_mock mock;
    char rules_path[256];
    int64_t t0;
} fixture;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_event(rd_kafka_t *p, int32_t partition, const char *service, int64_t ts, int i)
{
    tl_event ev;
    char trace[40], buf[2048];
    snprintf(trace, sizeof trace, "%s-%05d", service, i);
    tl_event_reset(&ev);
    ev.ts_ms = ts;
    tl_event_set_str(&ev, TL_S_TRACE_ID, trace, (uint32_t)strlen(trace));
    tl_event_set_str(&ev, TL_S_SERVICE, service, (uint32_t)strlen(service));
    tl_event_set_str(&ev, TL_S_KIND, "tool_call", 9);
    tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
    /* both formats on one topic: the decoder tells them apart per message */
    size_t n = i % 2 ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)buf, sizeof buf)
                     : tl_json_encode_event(&ev, buf, sizeof buf);
    assert_true(n > 0);
    tl_kt_produce_to(p, "traces", partition, trace, strlen(trace), buf, n);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(tl_kt_mock_start(&fx->mock, 1, "traces:2 alerts-1:1 dlq-1:1 alerts-2:1 dlq-2:1"), 0);
    assert_non_null(tl_test_write_temp(fx->rules_path, sizeof fx->rules_path, "align-rules", rules_yaml));
    /* on a 10 s boundary, so 1-minute windows hold whole seconds of both partitions */
    fx->t0 = (wall_ms() - 40 * MIN) / (10 * SEC) * (10 * SEC);
    rd_kafka_t *p = tl_kt_producer(fx->mock.bootstraps);
    assert_non_null(p);
    for (int i = 0; i < N_SLOW; i++)
        put_event(p, 0, "slow", fx->t0 + i * SEC, i);
    for (int i = 0; i < N_FAST; i++) {
        put_event(p, 1, "fast", fx->t0 + 15 * MIN + i * 100, i);
        if (i % 600 == 300) { /* inside the run that waits */
            static const char junk[] = "{\"ts\": not json";
            tl_kt_produce_to(p, "traces", 1, "junk", 4, junk, sizeof junk - 1);
        }
    }
    tl_kt_flush_destroy(p);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    return tl_kt_fixture_end(fx, &fx->mock, fx->rules_path);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* One run with `threads` workers, its own group, alert and dead-letter topics. */
static void run_and_check(fixture *fx, const char *threads)
{
    char group[32], alerts_topic[32], dlq_topic[32];
    snprintf(group, sizeof group, "g-align-%s", threads);
    snprintf(alerts_topic, sizeof alerts_topic, "alerts-%s", threads);
    snprintf(dlq_topic, sizeof dlq_topic, "dlq-%s", threads);
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", group, "--input", "traces",
                    "--output", alerts_topic, "--dlq", dlq_topic, "--rules", fx->rules_path, "--threads", (char *)threads,
                    "--exit-at-end", "--no-print-alerts", "-X", "log_level=3"};
    tl_engine_stats st;
    tl_kt_run_engine("window:\n  max_lead: 1m\n  lateness: 30s\n", (int)(sizeof argv / sizeof argv[0]), argv, &st);

    assert_int_equal(st.messages, N_SLOW + N_FAST + N_BAD);
    assert_int_equal(st.events, N_SLOW + N_FAST); /* counted once per fold */
    assert_int_equal(st.malformed, N_BAD);
    assert_int_equal(st.dlq_acked, N_BAD);
    assert_int_equal(st.late, 0);
    if (st.holds == 0)
        fail_msg("partition 1 was never held back: the test did not exercise the release path");
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, group, "traces", 2, &committed, &end);
    assert_int_equal(committed, end);

    tl_kt_msgs dlq = tl_kt_read_all(fx->mock.bootstraps, dlq_topic, 1);
    assert_int_equal(dlq.n, N_BAD);
    for (size_t i = 0; i < dlq.n; i++)
        assert_true(dlq.m[i].key_len == 4 && memcmp(dlq.m[i].key, "junk", 4) == 0);
    tl_kt_msgs_free(&dlq);

    int fast_full = 0, fast_over = 0, slow_full = 0;
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, alerts_topic, 1);
    for (size_t i = 0; i < alerts.n; i++) {
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, 0, NULL);
        assert_non_null(j);
        const char *rule = jstr(j, "alert");
        if (strcmp(jstr(j, "state"), "firing") == 0 && json_integer_value(json_object_get(j, "resend")) == 0) {
            double v = json_number_value(json_object_get(j, "value"));
            if (strcmp(rule, "FastFull") == 0) {
                fast_full++;
                assert_true(v == 600);
            } else if (strcmp(rule, "SlowFull") == 0) {
                slow_full++;
                assert_true(v == 60);
            }
        }
        fast_over += strcmp(rule, "FastOver") == 0;
        json_decref(j);
    }
    tl_kt_msgs_free(&alerts);
    assert_int_equal(fast_full, 1);
    assert_int_equal(slow_full, 1);
    assert_int_equal(fast_over, 0);
}

/* One worker decodes both partitions, so a released message that skipped its decode would fold
 * whatever the worker decoded last, often a "slow" event; two workers hold and release across
 * threads (the horizon is the slowest owner's evaluation). */
static void test_alignment_holds_and_releases_exactly_once(void **state)
{
    fixture *fx = *state;
    run_and_check(fx, "1");
    run_and_check(fx, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alignment_holds_and_releases_exactly_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
