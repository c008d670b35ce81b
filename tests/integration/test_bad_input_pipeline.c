/* tests/integration/test_bad_input_pipeline.c - bad input through the whole engine on the mock
 * cluster (issue 5, "Bad input" and "Security").
 *
 * test_pipeline.c already sends a JSON message cut short, one without a timestamp and one
 * with an unknown schema id through the engine; this test sends every other kind: a wrong
 * magic byte, a frame shorter than 5 bytes, truncated Avro, a bad union index, corrupt JSON,
 * JSON nested too deep, JSON over max_message_bytes, more attributes than the limit and
 * timestamps far in the future, between valid JSON and Avro events, and checks:
 *  - every valid event is decoded and every bad message is dead-lettered, nothing else
 *    (engine stats), and the consumer group's offsets reach the end of the input;
 *  - each dead letter is the original message (key and value), its headers name its code
 *    and where it came from, and the topic/partition/offset really hold that message;
 *  - with limits.future_timestamps: clamp, the far-future events are kept instead (they are
 *    events, not dead letters) and everything else is rejected as before;
 *  - alert text built from event content is escaped and truncated: a tool name with quotes,
 *    a backslash, a newline, an ESC sequence, invalid UTF-8 and 300 bytes of text comes out
 *    in an alert that strict JSON parsers read, its label cut to TL_ALERT_LABEL_MAX bytes
 *    and its summary free of control characters.
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

#include "alert.h"
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
#define N_VALID 1200

static const char rules_yaml[] =
    "rules:\n"
    "  - name: ToolCalls\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service, tool]\n"
    "    value: count()\n"
    "    window: 1m\n"
    "    threshold: \"> 5\"\n"
    "    severity: warning\n"
    "    owner: agents\n"
    "    runbook: https://runbooks.example/tool-calls\n"
    "    summary: \"{{tool}} called {{value}} times on {{service}}\"\n";

/* A tool name an attacker controls: quotes, a backslash, a newline, a terminal escape,
 * bytes that are not UTF-8, an "é", then 300 bytes, far over the 128-byte label limit. */
static char hostile[400];
static size_t hostile_n;

static void hostile_init(void)
{
    static const char head[] = "ev\"il\\tool\n\x1b[2J\xff\xfe\xc3\xa9";
    memcpy(hostile, head, sizeof head - 1);
    memset(hostile + sizeof head - 1, 'x', 300);
    hostile_n = sizeof head - 1 + 300;
}

typedef struct bad_msg {
    const char *code; /* expected tripline.error.code */
    uint8_t b[9000];
    size_t n;
} bad_msg;

enum { N_BAD = 11 };

typedef struct fixture {
    tl_mock mock;
    char rules_path[256];
    int64_t t0; /* event time of the first valid event: a few minutes before the wall clock */
    bad_msg bad[N_BAD];
} fixture;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_varint(bad_msg *m, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        m->b[m->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    m->b[m->n++] = (uint8_t)z;
}

static void set_text(bad_msg *m, const char *s)
{
    m->n = strlen(s);
    memcpy(m->b, s, m->n);
}

static void base_event(tl_event *ev, int64_t ts, const char *trace)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    tl_event_set_str(ev, TL_S_TRACE_ID, trace, (uint32_t)strlen(trace));
    tl_event_set_str(ev, TL_S_SERVICE, "support-bot", 11);
    tl_event_set_str(ev, TL_S_KIND, "tool_call", 9);
}

/* The bad messages, in the order they are produced. */
static void build_bad(fixture *fx)
{
    tl_event ev;
    base_event(&ev, fx->t0, "bad");
    tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
    int k = 0;
    bad_msg *m;

    m = &fx->bad[k++]; /* a Confluent frame with magic byte 1 */
    m->code = "bad_magic";
    m->n = tl_avro_encode_event_confluent(&ev, 1, m->b, sizeof m->b);
    m->b[0] = 0x01;
    m = &fx->bad[k++];
    m->code = "short_frame";
    memcpy(m->b, "\x00\x00\x00", 3);
    m->n = 3;
    m = &fx->bad[k++]; /* a framed record cut in its service string */
    m->code = "truncated";
    m->n = tl_avro_encode_event_confluent(&ev, 1, m->b, sizeof m->b);
    m->n = (size_t)((uint8_t *)memmem(m->b, m->n, "support-bot", 11) - m->b) + 3;
    m = &fx->bad[k++]; /* trace_id [null, string]: branch 5 */
    m->code = "bad_union";
    memcpy(m->b, "\x00\x00\x00\x00\x01", 5);
    m->n = 5;
    put_varint(m, fx->t0);
    put_varint(m, 5);
    m = &fx->bad[k++];
    m->code = "json_syntax";
    set_text(m, "{\"timestamp\": \"2027-01-15T08:00:00Z\", \"service\": \"a\" \"kind\": \"b\"}");
    m = &fx->bad[k++]; /* 200 levels of arrays in an attribute */
    m->code = "too_deep";
    m->n = (size_t)sprintf((char *)m->b, "{\"timestamp\": %lld, \"attributes\": {\"x\": ", (long long)fx->t0);
    memset(m->b + m->n, '[', 200);
    memset(m->b + m->n + 200, ']', 200);
    m->n += 400;
    memcpy(m->b + m->n, "}}", 2);
    m->n += 2;
    m = &fx->bad[k++]; /* valid JSON, 8500 bytes, over the 8192-byte limit */
    m->code = "too_large";
    m->n = (size_t)sprintf((char *)m->b, "{\"timestamp\": %lld, \"attributes\": {\"pad\": \"", (long long)fx->t0);
    memset(m->b + m->n, 'p', 8500 - m->n - 3);
    memcpy(m->b + 8500 - 3, "\"}}", 3);
    m->n = 8500;
    m = &fx->bad[k++];
    m->code = "too_many_attrs";
    m->n = (size_t)sprintf((char *)m->b, "{\"timestamp\": %lld, \"attributes\": {", (long long)fx->t0);
    for (int i = 0; i < TL_EVENT_MAX_ATTRS + 1; i++)
        m->n += (size_t)sprintf((char *)m->b + m->n, "%s\"a%d\": \"v\"", i ? ", " : "", i);
    m->n += (size_t)sprintf((char *)m->b + m->n, "}}");
    m = &fx->bad[k++];
    m->code = "missing_timestamp"; /* in Avro there is no missing timestamp; a null in JSON */
    set_text(m, "{\"timestamp\": null, \"service\": \"support-bot\", \"kind\": \"tool_call\"}");
    /* 5 hours ahead of the wall clock, JSON and framed Avro (a skewed producer clock) */
    int64_t future = wall_ms() + 5 * 60 * MIN;
    base_event(&ev, future, "future");
    tl_event_set_str(&ev, TL_S_SERVICE, "skewed-bot", 10);
    tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
    m = &fx->bad[k++];
    m->code = "bad_timestamp";
    m->n = tl_json_encode_event(&ev, (char *)m->b, sizeof m->b);
    m = &fx->bad[k++];
    m->code = "bad_timestamp";
    m->n = tl_avro_encode_event_confluent(&ev, 1, m->b, sizeof m->b);
    assert_int_equal(k, N_BAD);
    for (int i = 0; i < N_BAD; i++)
        assert_true(fx->bad[i].n > 0);
}

/* N_VALID events over 2.5 minutes of event time from 3 minutes before now, alternately JSON
 * and framed Avro; every 4th calls the hostile tool. The bad messages are spread between,
 * except the two far-future ones, which come last: clamped (to now + 10s, within the default
 * max_lead of the watermark, so never held back) they still move their partition's event time
 * forward, and an honest event after them could be late if the other partition reached its
 * end first (docs/OPERATIONS.md, Bad input). The test keeps that timing out of its counts. */
static void produce(fixture *fx)
{
    rd_kafka_t *p = tl_kt_producer(fx->mock.bootstraps);
    assert_non_null(p);
    char buf[4096], trace[40], key[16];
    for (int i = 0; i < N_VALID; i++) {
        tl_event ev;
        snprintf(trace, sizeof trace, "trace-%05d", i);
        base_event(&ev, fx->t0 + i * 125, trace);
        if (i % 4 == 0)
            tl_event_set_str(&ev, TL_S_TOOL, hostile, (uint32_t)hostile_n);
        else
            tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
        size_t n = i % 2 ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)buf, sizeof buf)
                         : tl_json_encode_event(&ev, buf, sizeof buf);
        assert_true(n > 0);
        tl_kt_produce(p, "traces", trace, strlen(trace), buf, n);
        if (i % 100 == 50 && i / 100 < N_BAD && strcmp(fx->bad[i / 100].code, "bad_timestamp") != 0) {
            int k = i / 100;
            snprintf(key, sizeof key, "bad-%02d", k);
            tl_kt_produce(p, "traces", key, strlen(key), fx->bad[k].b, fx->bad[k].n);
        }
    }
    for (int k = 0; k < N_BAD; k++) {
        if (strcmp(fx->bad[k].code, "bad_timestamp") == 0) {
            snprintf(key, sizeof key, "bad-%02d", k);
            tl_kt_produce(p, "traces", key, strlen(key), fx->bad[k].b, fx->bad[k].n);
        }
    }
    tl_kt_flush_destroy(p);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(tl_kt_mock_start(&fx->mock, 1, "traces:2 alerts:1 dlq:1"), 0);
    assert_non_null(tl_test_write_temp(fx->rules_path, sizeof fx->rules_path, "bad-rules", rules_yaml));
    hostile_init();
    fx->t0 = wall_ms() - 3 * MIN;
    build_bad(fx);
    produce(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    return tl_kt_fixture_end(fx, &fx->mock, fx->rules_path);
}

static void run_engine(fixture *fx, const char *group, const char *policy, tl_engine_stats *st)
{
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "limits:\n  max_message_bytes: 8192\n  max_future: 10s\n  future_timestamps: %s\n", policy);
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", (char *)group, "--input", "traces",
                    "--output", "alerts", "--dlq", "dlq", "--rules", fx->rules_path, "--threads", "2",
                    "--exit-at-end", "--no-print-alerts", "-X", "log_level=3"};
    tl_kt_run_engine(yaml, (int)(sizeof argv / sizeof argv[0]), argv, st);
}

/* The input message at (partition, offset), or NULL. */
static const tl_kt_msg *input_at(const tl_kt_msgs *in, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->m[i].partition == partition && in->m[i].offset == offset)
            return &in->m[i];
    return NULL;
}

/* Check the dead letters dlq->m[from..] against the bad messages (all of them, or all but the
 * far-future ones). */
static void check_dead_letters(fixture *fx, const tl_kt_msgs *dlq, size_t from, int with_future)
{
    tl_kt_msgs in = tl_kt_read_all(fx->mock.bootstraps, "traces", 2);
    assert_int_equal(in.n, N_VALID + N_BAD);
    int seen[N_BAD] = {0};
    for (size_t i = from; i < dlq->n; i++) {
        const tl_kt_msg *d = &dlq->m[i];
        assert_string_equal(d->hdr_topic, "traces");
        const tl_kt_msg *src = input_at(&in, (int32_t)atoi(d->hdr_partition), atoll(d->hdr_offset));
        if (!src)
            fail_msg("dead letter %zu names traces[%s]@%s, which does not exist", i, d->hdr_partition,
                     d->hdr_offset);
        /* the original message, unchanged */
        assert_int_equal(d->len, src->len);
        assert_memory_equal(d->value, src->value, d->len);
        assert_int_equal(d->key_len, src->key_len);
        assert_memory_equal(d->key, src->key, d->key_len);
        assert_true(d->key_len == 6 && memcmp(d->key, "bad-", 4) == 0);
        int k = atoi(d->key + 4);
        assert_true(k >= 0 && k < N_BAD);
        if (strcmp(d->hdr_code, fx->bad[k].code) != 0)
            fail_msg("bad message %d: dead-lettered as %s (%s), expected %s", k, d->hdr_code, d->hdr_error,
                     fx->bad[k].code);
        assert_non_null(strstr(d->hdr_error, d->hdr_code)); /* "code at byte N: text" */
        if (strcmp(d->hdr_code, "bad_timestamp") == 0)
            assert_non_null(strstr(d->hdr_error, "ahead of the wall clock, limit 10s"));
        seen[k]++;
    }
    for (int k = 0; k < N_BAD; k++) {
        int future = strcmp(fx->bad[k].code, "bad_timestamp") == 0;
        if (seen[k] != (future && !with_future ? 0 : 1))
            fail_msg("bad message %d (%s) dead-lettered %d times", k, fx->bad[k].code, seen[k]);
    }
    tl_kt_msgs_free(&in);
}

static void test_bad_input_pipeline_dead_letters_and_nothing_else_lost(void **state)
{
    fixture *fx = *state;
    tl_engine_stats st;
    run_engine(fx, "g-reject", "reject", &st);
    assert_int_equal(st.messages, N_VALID + N_BAD);
    assert_int_equal(st.events, N_VALID);
    assert_int_equal(st.malformed, N_BAD);
    assert_int_equal(st.dlq_acked, N_BAD);
    assert_int_equal(st.late, 0); /* every event also counted in the windows */
    assert_int_equal(st.holds, 0);
    tl_kt_msgs dlq = tl_kt_read_all(fx->mock.bootstraps, "dlq", 1);
    assert_int_equal(dlq.n, N_BAD);
    check_dead_letters(fx, &dlq, 0, 1);
    tl_kt_msgs_free(&dlq);
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, "g-reject", "traces", 2, &committed, &end);
    assert_int_equal(committed, end);

    /* clamp: the two far-future events are kept (as events 10s ahead), the rest as before */
    run_engine(fx, "g-clamp", "clamp", &st);
    assert_int_equal(st.messages, N_VALID + N_BAD);
    assert_int_equal(st.events, N_VALID + 2);
    assert_int_equal(st.malformed, N_BAD - 2);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.holds, 0);
    dlq = tl_kt_read_all(fx->mock.bootstraps, "dlq", 1);
    assert_int_equal(dlq.n, N_BAD + N_BAD - 2);
    check_dead_letters(fx, &dlq, N_BAD, 0);
    tl_kt_msgs_free(&dlq);
    tl_kt_committed(fx->mock.bootstraps, "g-clamp", "traces", 2, &committed, &end);
    assert_int_equal(committed, end);
}

/* Sanitized as the JSON alert encoder writes it: invalid UTF-8 bytes become U+FFFD. */
static size_t as_json_text(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xff || c == 0xfe) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

static void test_bad_input_pipeline_alert_text_escaped_and_truncated(void **state)
{
    fixture *fx = *state;
    tl_engine_stats st;
    run_engine(fx, "g-alerts", "reject", &st);
    assert_true(st.alerts >= 2);
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 1);
    assert_true(alerts.n >= 2);
    char want_label[512];
    as_json_text(hostile, TL_ALERT_LABEL_MAX, want_label);
    int hostile_alerts = 0;
    for (size_t i = 0; i < alerts.n; i++) {
        json_error_t jerr;
        /* strict: jansson rejects invalid UTF-8 and raw control characters */
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
            fail_msg("alert %zu is not valid JSON: %s at %d: %.*s", i, jerr.text, jerr.position,
                     (int)alerts.m[i].len, alerts.m[i].value);
        for (size_t b = 0; b < alerts.m[i].len; b++)
            assert_true((unsigned char)alerts.m[i].value[b] >= 0x20); /* one line */
        json_t *labels = json_object_get(j, "labels");
        const char *tool = json_string_value(json_object_get(labels, "tool"));
        assert_non_null(tool);
        if (strncmp(tool, "ev\"il", 5) == 0) {
            hostile_alerts++;
            /* the label: the first 128 bytes of the value, escaped on the wire, exact after
             * parsing, with the two bytes that are not UTF-8 replaced */
            assert_string_equal(tool, want_label);
            assert_string_equal(json_string_value(json_object_get(j, "tool")), want_label);
            /* the summary: control characters dropped, the value cut to 128 bytes */
            const char *summary = json_string_value(json_object_get(j, "summary"));
            assert_non_null(summary);
            for (const char *c = summary; *c; c++)
                assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
            assert_non_null(strstr(summary, "ev\"il\\tool[2J\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9xxx"));
            assert_non_null(strstr(summary, " called "));
            assert_true(strlen(summary) < TL_ALERT_LABEL_MAX + 64);
        }
        json_decref(j);
    }
    assert_true(hostile_alerts >= 1);
    tl_kt_msgs_free(&alerts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_input_pipeline_dead_letters_and_nothing_else_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_pipeline_alert_text_escaped_and_truncated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
